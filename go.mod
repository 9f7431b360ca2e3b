module github.com/timebridge/timebridge

go 1.26.8
