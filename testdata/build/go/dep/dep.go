// Package dep is served to the app from a file GOPROXY.
package dep

// Greeting is what the app prints.
func Greeting() string { return "hello from example.com/dep v1.0.0" }
