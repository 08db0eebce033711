package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable returns s with every rune that is not graphic — a control
// character (newline, tab, escape), a format character (a bidirectional
// override), a space other than U+0020 — and every byte that is not UTF-8
// written as a Go escape (\n, \t, \x1b, \u202e). The CLI prints values
// other principals and agents chose (owners, purposes, tasks, names, the
// fields of reported audit events, path parameters echoed into refusals)
// in tables and trees for people: escaped, a value stays inside its own
// cell, and can neither start a row of its own, shift columns, nor drive
// the terminal.
func printable(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !graphic(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case graphic(r, n):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func graphic(r rune, n int) bool {
	return !(r == utf8.RuneError && n == 1) && unicode.IsPrint(r)
}

// printables applies printable to each of ss.
func printables(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = printable(s)
	}
	return out
}
