// Used by `prisma generate` / `prisma validate` only. Migrations are SQL run by node-pg-migrate (src/migrate.ts).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
});
