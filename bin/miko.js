#!/bin/sh
// 2>/dev/null; exec env MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-131072}" node "$0" "$@"
//
// Run as a program, the line above is shell: it starts Node on this same file with glibc's malloc
// told to keep handing freed memory back past 128 KiB. Left to itself, glibc raises that bound
// once a large block is freed (the 1 MB bundle's source, read once), and the ~10 MiB that V8
// borrows while compiling the bundle then stays resident for good. `node bin/miko.js` works too,
// without it. For JavaScript the line is a comment.
import v8 from "node:v8"
// `general.heap: compact` from the first allocation on, its young generation held at its first
// size: a heap that has grown while starting stays grown. The service then follows its config.
v8.setFlagsFromString("--optimize-for-size")
v8.setFlagsFromString("--semi-space-growth-factor=1")
await import("../dist/miko.mjs")
