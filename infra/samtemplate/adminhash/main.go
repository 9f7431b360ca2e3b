// Command adminhash prints the bcrypt hash of the admin password in
// $ADMIN_PASSWORD, made by shared/auth (the package that checks it at login),
// for template.yaml's AdminPasswordHash parameter. `make deploy
// ADMIN_PASSWORD=...` runs it so that only the hash leaves the machine. The
// password is read from the environment rather than the command line, where
// other users could see it in the process list.
package main

import (
	"fmt"
	"os"

	"github.com/timebridge/timebridge/shared/auth"
)

func main() {
	pw := os.Getenv("ADMIN_PASSWORD")
	if pw == "" {
		fmt.Fprintln(os.Stderr, "adminhash: set ADMIN_PASSWORD to the admin password")
		os.Exit(2)
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "adminhash:", err)
		os.Exit(1)
	}
	fmt.Println(h)
}
