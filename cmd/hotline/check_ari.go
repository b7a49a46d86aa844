package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hotline-project/hotline/app"
	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/dialplan"
	"github.com/hotline-project/hotline/doctor"
)

// runCheckARI is the doctor of `hotline check --config FILE --ari`, run
// after the file itself passed: it connects to the configured Asterisk
// with the configured user and password and reports what the hotline
// needs there and is missing (package doctor says what). It prints one
// line per finding on stderr (FILE:LINE: message, with "warning:" or
// "note:" where it is one), then the summary: on stdout when nothing is an
// error, else on stderr and exit 1. Every request has the configured
// request_timeout; the password is never printed.
func runCheckARI(ctx context.Context, cfg *dialplan.Config, stdout, stderr io.Writer) error {
	rep := checkARI(ctx, cfg)
	for _, f := range rep.Findings {
		fmt.Fprintln(stderr, f)
	}
	if rep.Count(doctor.Error) > 0 {
		fmt.Fprintln(stderr, rep.Summary())
		return exitError(1)
	}
	fmt.Fprintln(stdout, rep.Summary())
	return nil
}

// checkARI builds the ARI client as the daemon does and runs the doctor.
func checkARI(ctx context.Context, cfg *dialplan.Config) doctor.Report {
	fail := func(line int, format string, args ...any) doctor.Report {
		return doctor.Report{File: cfg.File, URL: cfg.ARI.URL, Findings: []doctor.Finding{
			{File: cfg.File, Line: line, Level: doctor.Error, Message: fmt.Sprintf(format, args...)},
		}}
	}
	password := ""
	if ref := cfg.ARI.Password; ref.IsSet() {
		key := "ari.password_file"
		if ref.File == "" {
			key = "ari.password_env"
		}
		s, err := ref.Read()
		if err != nil {
			return fail(cfg.Line(key), "%s: %v", key, err)
		}
		password = s.Value()
	}
	client, err := ari.New(ari.Options{
		URL: cfg.ARI.URL, WebsocketURL: cfg.ARI.WebsocketURL, Application: cfg.ARI.Application,
		Username: cfg.ARI.Username, Password: password,
		RequestTimeout: cfg.ARI.RequestTimeout, DialTimeout: cfg.ARI.RequestTimeout,
	})
	if err != nil {
		return fail(cfg.Line("ari.url"), "ari: %v", err) // New never repeats a URL or the password
	}
	return doctor.Run(ctx, client, cfg, doctor.Options{Sounds: app.Sounds(cfg)})
}
