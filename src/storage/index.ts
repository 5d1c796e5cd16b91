export { StorageError } from "./errors.js"
export { layerMigrations, migrate } from "./migrations.js"
export { layerSqlite, layerSqliteFile } from "./sqlite.js"
