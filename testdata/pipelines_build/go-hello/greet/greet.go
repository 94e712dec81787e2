// Package greet is served to the build from a file GOPROXY (see mkproxy.py).
package greet

// Hello says hello from the named pipeline.
func Hello(from string) string { return "hello from " + from + " via example.com/greet v1.0.0" }
