// Where reports live: <reports dir>/<YYYY-MM-DD>/ (the UTC date the period ends on) holding index.html, the
// charts (<name>.svg), report.json and report.txt. Shared by the generator and the read-only server.

/** The name of a report's directory. */
export const reportName = (end: Date) => end.toISOString().slice(0, 10);

export const REPORT_NAME = /^\d{4}-\d{2}-\d{2}$/;
/** The files a report directory may hold (and the server may serve). */
export const REPORT_FILE = /^[a-z0-9][a-z0-9-]*\.(html|svg|json|txt)$/;
