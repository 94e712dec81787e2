// A program with one module dependency, built offline from the module cache.
package main

import (
	"fmt"

	"example.com/dep"
)

func main() {
	fmt.Println(dep.Greeting())
}
