module github.com/liblnc/liblnc/bindings/go

go 1.22
