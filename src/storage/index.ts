// The PostgreSQL driver (./postgres.ts) is not re-exported: importing it would load `pg` with
// every import of the library. `layerPostgres` and `layerDatabase` import it when built.
export { layerDatabase, layerPostgres } from "./database.js"
export { nowMillis } from "./dialect.js"
export { StorageError, StorageSettingsError } from "./errors.js"
export { layerMigrations, migrate } from "./migrations.js"
export { layerLocal as layerLocalNotifications, Notifications } from "./notifications.js"
export { type PostgresSettings, postgresUrl, type SqliteSettings, type StorageSettings } from "./settings.js"
export { layerSqlite, layerSqliteFile } from "./sqlite.js"
