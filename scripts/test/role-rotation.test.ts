// Deploy's order when the PostgreSQL members change: the stack document it rolls them with first.
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { onlyServices } from '../lib/role-rotation.js';

const RENDERED = `
services:
  postgres1: { image: node1:5000/swarmlab/postgres:c-1, secrets: [app_password] }
  postgres2: { image: node1:5000/swarmlab/postgres:c-1, secrets: [app_password] }
  api: { image: node1:5000/swarmlab/api:c-2, secrets: [database_url] }
networks:
  data: { driver: overlay, internal: true }
secrets:
  app_password: { external: true, name: swarmlab_app_password_v2 }
  database_url: { external: true, name: swarmlab_database_url_v2 }
`;

describe('onlyServices', () => {
  it('when given the members, then the document holds them alone, with the networks and secrets as they are', () => {
    const document = parse(onlyServices(RENDERED, ['postgres2'])) as Record<string, Record<string, unknown>>;
    const full = parse(RENDERED) as Record<string, Record<string, unknown>>;

    expect(Object.keys(document.services!)).toEqual(['postgres2']);
    expect(document.services!.postgres2).toEqual(full.services!.postgres2);
    expect(document.networks).toEqual(full.networks);
    expect(document.secrets).toEqual(full.secrets);
  });
});
