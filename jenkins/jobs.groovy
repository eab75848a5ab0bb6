// Job DSL: the jobs of the lab's Jenkins, seeded at every start by configuration-as-code (casc.yaml, `jobs:`).
// One pipeline job, `swarmlab`: the Jenkinsfile from the lab's git repository. It builds on every push (the
// operator's pre-push hook from `npm run lab:hooks` calls /git/notifyCommit, which makes Jenkins poll at once) and,
// as a fallback, polls the repository every 5 minutes.
// No dollar-brace strings in this file: configuration-as-code would try to resolve them as its own variables.
import jenkins.model.Jenkins

// The repository as Jenkins reaches it: a path mounted into the container (default), or any git URL. The
// notifyCommit URL the hook sends must name the same repository (npm run lab:hooks -- --repo-url <url>).
String repoUrl = System.getenv('SWARMLAB_GIT_URL') ?: '/srv/git/swarmlab.git'
String branchName = System.getenv('SWARMLAB_GIT_BRANCH') ?: 'main'

pipelineJob('swarmlab') {
    displayName('swarmlab')
    description('Lint, typecheck, test and deploy swarmlab on every push (Jenkinsfile). ' +
            'Defined in jenkins/jobs.groovy: changes made in the UI are lost at the next start.')
    properties {
        pipelineTriggers {
            triggers {
                // The fallback when a push notification is lost; notifyCommit only works for jobs that poll.
                pollSCM {
                    scmpoll_spec('H/5 * * * *')
                }
            }
        }
    }
    definition {
        cpsScm {
            scm {
                git {
                    remote {
                        url(repoUrl)
                        name('origin')
                    }
                    branch('*/' + branchName)
                }
            }
            // The Jenkinsfile at the repository's root, read without a full checkout.
            scriptPath('Jenkinsfile')
            lightweight(true)
        }
    }
}

// A pipeline job only polls once it has run: its first build is queued when the job has none yet.
if (Jenkins.get().getItem('swarmlab')?.lastBuild == null) {
    queue('swarmlab')
}
