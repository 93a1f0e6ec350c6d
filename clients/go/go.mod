module github.com/sessiond/sessiond/clients/go

go 1.22
