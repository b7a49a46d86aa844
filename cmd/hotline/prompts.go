package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/prompts"
)

// runPrompts is `hotline prompts --out DIR [--config FILE] [--core-sounds
// DIR]`: the hotline's own prompt set, every sound the configuration may
// play in each of its languages and the number words Asterisk reads
// numbers with, synthesized with espeak-ng and sox into DIR/<lang>/. It
// prints what it wrote per language. Without --config it makes the set of
// the built-in defaults (English only).
func runPrompts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prompts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "Asterisk's sounds directory, e.g. /var/lib/asterisk/sounds (files go to DIR/<lang>/)")
	config := fs.String("config", "", "configuration file (YAML); default: the built-in defaults")
	core := fs.String("core-sounds", "", "Asterisk's core sounds by language, e.g. /usr/share/asterisk/sounds: link their digits/ rather than synthesize them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	cfg, err := promptsConfig(*config, stderr)
	if err != nil {
		return err
	}
	texts, err := prompts.Builtin()
	if err != nil {
		return err
	}
	langs := slices.Clone(cfg.Languages.Supported)
	if !slices.Contains(langs, cfg.Languages.Default) {
		langs = append(langs, cfg.Languages.Default)
	}
	files, err := prompts.Plan(texts, langs, app.Sounds(cfg))
	if err != nil {
		return err
	}
	res, err := prompts.Generate(ctx, files, prompts.Options{Dir: *out, CoreSounds: *core})
	if err != nil {
		return err
	}
	total := 0
	for _, l := range res.Langs {
		line := fmt.Sprintf("%s: %d sounds, %d number words", l.Lang, l.Sounds, l.Words)
		if l.Linked > 0 {
			line += fmt.Sprintf(", %d digits linked from %s", l.Linked, *core)
		}
		fmt.Fprintln(stdout, line)
		total += l.Total()
	}
	if len(res.Kept) > 0 {
		fmt.Fprintf(stdout, "kept %d file(s) that hotline prompts did not write (recordings, stock sounds):\n", len(res.Kept))
		for _, k := range res.Kept {
			fmt.Fprintf(stdout, "  %s\n", k)
		}
	}
	fmt.Fprintf(stdout, "%s: %d files for %d language(s)\n", *out, total, len(res.Langs))
	// What Asterisk will find, recordings included: a recording in a
	// format Asterisk does not read is as silent as no file.
	if err := prompts.Check(*out, files); err != nil {
		return fmt.Errorf("not playable:\n%w", err)
	}
	return nil
}

// promptsConfig loads the configuration, printing its problems as `hotline
// check` does; with no path it is the built-in defaults.
func promptsConfig(path string, stderr io.Writer) (*dialplan.Config, error) {
	if path == "" {
		// Parse of nothing is the defaults, with problems for the
		// sections a real file must have (topics, numbers): those do not
		// concern the prompts.
		cfg, err := dialplan.Parse("(built-in defaults)", nil)
		var problems dialplan.Problems
		if err != nil && !errors.As(err, &problems) {
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := dialplan.Load(path)
	var problems dialplan.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", path, countErrors(problems))
		return nil, exitError(1)
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}
