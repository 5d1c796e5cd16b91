module github.com/miko-dev/miko/scripts/bench/sdk/go

go 1.24

require github.com/miko-dev/miko/sdk/go v0.0.0

replace github.com/miko-dev/miko/sdk/go => ../../../../sdk/go
