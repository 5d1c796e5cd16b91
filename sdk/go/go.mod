module github.com/miko-dev/miko/sdk/go

go 1.24
