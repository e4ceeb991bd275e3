package auth_test

import (
	"context"
	"fmt"
	"time"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/auth/authtest"
)

func ExampleVerifier() {
	// A local identity provider stands in for the real one.
	idp, err := authtest.NewIssuer("https://idp.example.com/")
	if err != nil {
		panic(err)
	}
	srv, err := idp.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	v, err := auth.New(auth.Config{
		JWKSURL:   srv.JWKSURL(),
		Issuer:    "https://idp.example.com/",
		Audiences: []string{"spell-coven"},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := v.Start(ctx); err != nil {
		panic(err)
	}
	defer v.Stop()

	token, _ := idp.MintFor("user-42", "spell-coven", time.Hour, map[string]any{"discord_id": "80351110224678912"})
	claims, err := v.Verify(ctx, token)
	if err != nil {
		panic(err)
	}
	discordID, _ := claims.String("discord_id")
	fmt.Println(claims.Subject, discordID)

	expired, _ := idp.MintFor("user-42", "spell-coven", -time.Hour, nil)
	_, err = v.Verify(ctx, expired)
	fmt.Println(auth.Reason(err))
	// Output:
	// user-42 80351110224678912
	// expired
}
