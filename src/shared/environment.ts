/**
 * The process environment as Miko reads it: `MIKO_*` overrides, the config file's search path,
 * and the variables `secretEnv` settings name. Only the entry points read `process.env`; every
 * layer below is given this record, so tests and embedders pass their own.
 */
export type Environment = Readonly<Record<string, string | undefined>>
