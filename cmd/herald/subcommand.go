package main

import (
	"flag"
	"fmt"
	"strings"
)

// subcommandConfig reads a subcommand's settings, wanted (flag name ->
// what it means to the subcommand), from flags, else their HERALD_*
// variables, else the defaults, as serve reads them; like serve, it names
// unknown HERALD_* variables. flags may hold the subcommand's own flags
// too. Flags and positional arguments may be mixed; the positional ones
// are returned. Problems are listed together.
func subcommandConfig(flags *flag.FlagSet, wanted map[string]string, args, environ []string) (Config, []string, []string, error) {
	var cfg Config
	var chosen []setting
	values := map[string]*string{}
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
		if usage, ok := wanted[s.flag]; ok {
			chosen = append(chosen, s)
			values[s.flag] = flags.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", usage, s.env, s.def))
		}
	}
	var positional []string
	for {
		if err := flags.Parse(args); err != nil {
			return cfg, nil, nil, err
		}
		if flags.NArg() == 0 {
			break
		}
		positional = append(positional, flags.Arg(0))
		args = flags.Args()[1:]
	}
	given := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	getenv := envLookup(environ)
	var problems []string
	for _, s := range chosen {
		value, source := s.def, "default"
		if v := getenv(s.env); v != "" {
			value, source = v, s.env
		}
		if given[s.flag] {
			value, source = *values[s.flag], "--"+s.flag
		}
		if err := s.apply(&cfg, value); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", source, shownValue(s.flag, value), err))
		}
	}
	problems = append(problems, unknownEnv(environ, known)...)
	return cfg, positional, problems, nil
}

// configError lists a subcommand's configuration problems, if any.
func configError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
}
