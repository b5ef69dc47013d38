module github.com/robotd/robotd

go 1.26.8

require (
	github.com/go-gl/mathgl v1.2.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
