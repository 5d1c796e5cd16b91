export { StorageError } from "./errors.js"
export { layerMigrations, migrate } from "./migrations.js"
export { layerSqlite } from "./sqlite.js"
