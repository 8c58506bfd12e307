// Runs the backend's PostgreSQL migrations (what `npm run migration:latest` does) with tsx,
// which compiles them several times faster than the ts-node its knexfile loads.
// Run from the backend folder: node --import tsx spec/live/migrate.mjs (DB_CONNECTION_URI set).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.resolve("package.json"));
const db = require("knex")({ client: "pg", connection: process.env.DB_CONNECTION_URI });
try {
  const [batch, done] = await db.migrate.latest({
    directory: path.resolve("src/db/migrations"),
    tableName: "infisical_migrations",
    loadExtensions: [".ts"]
  });
  console.log(`migrations: batch ${batch}, ${done.length} run`);
} finally {
  await db.destroy();
}
