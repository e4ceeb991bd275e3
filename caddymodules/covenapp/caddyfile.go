package covenapp

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/spellcoven/gateway/caddymodules/internal/caddyfileopt"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("coven", parseGlobalOption)
}

// parseGlobalOption sets up the `coven` app from the global option of the same name:
//
//	coven {
//		guild            <snowflake>
//		category         <snowflake>
//		bot_token        <token>          # e.g. {env.DISCORD_BOT_TOKEN}
//		bot_token_file   <path>
//		jwt {
//			jwks_url         <url>
//			issuer           <iss>
//			audience         <aud...>
//			algorithms       <alg...>     # default RS256 ES256
//			leeway           <duration>   # default 30s
//			fetch_timeout    <duration>   # default 5s
//			refresh_interval <duration>   # default 15m
//			types            <typ...>     # accepted typ headers, default any
//			max_lifetime     <duration>   # longest exp - iat accepted, default none
//			cache_size       <n>          # verified tokens remembered, default 10000
//		}
//		history_size     <n>              # default 10000
//		queue_length     <n>              # default 256
//		write_timeout    <duration>       # default 10s
//		max_batch_events <n>              # default 1000
//		broker           memory|redis [<url>] {   # default memory; see BrokerConfig
//			sentinel            <master_name> <address...>   # instead of <url>
//			sentinel_username   <user>
//			sentinel_password   <password>
//			cluster             <address...>                 # instead of <url>
//			username            <user>        # Redis servers' (sentinel, cluster)
//			password            <password>
//			key_prefix          <prefix>      # default coven:
//			stream_length       <n>           # default: history_size
//			checkpoint_interval <n>           # default 1000
//			dial_timeout        <duration>    # default 2s
//			read_timeout        <duration>    # default 2s
//		}
//		discord_api      <url>            # default https://discord.com/api/v10
//		discord_limits {
//			global_requests  <n>          # per second, default 50
//			invalid_requests <n>          # 401/403/429 answers per 10m before refusing, default 1000
//			backoff_base     <duration>   # default 1s
//			backoff_max      <duration>   # default 32s
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "coven", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens. Syntax: see parseGlobalOption.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "guild":
			err = caddyfileopt.String(d, &a.GuildID)
		case "category":
			err = caddyfileopt.String(d, &a.CategoryID)
		case "bot_token":
			err = caddyfileopt.String(d, &a.BotToken)
		case "bot_token_file":
			err = caddyfileopt.String(d, &a.BotTokenFile)
		case "jwt":
			a.JWT = new(JWTConfig)
			err = a.JWT.unmarshalCaddyfile(d)
		case "history_size":
			err = caddyfileopt.Int(d, &a.Hub.HistorySize)
		case "queue_length":
			err = caddyfileopt.Int(d, &a.Hub.QueueLength)
		case "write_timeout":
			err = caddyfileopt.Duration(d, &a.Hub.WriteTimeout)
		case "max_batch_events":
			err = caddyfileopt.Int(d, &a.MaxBatchEvents)
		case "broker":
			a.Broker = new(BrokerConfig)
			err = a.Broker.unmarshalCaddyfile(d)
		case "discord_api":
			err = caddyfileopt.String(d, &a.Discord.APIURL)
		case "discord_limits":
			err = a.Discord.unmarshalCaddyfile(d)
		default:
			return d.Errf("coven: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *JWTConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "jwks_url":
			err = caddyfileopt.String(d, &c.JWKSURL)
		case "issuer":
			err = caddyfileopt.String(d, &c.Issuer)
		case "audience":
			c.Audiences = append(c.Audiences, d.RemainingArgs()...)
			if len(c.Audiences) == 0 {
				err = d.Err("audience: expected at least one value")
			}
		case "algorithms":
			c.Algorithms = d.RemainingArgs()
			if len(c.Algorithms) == 0 {
				err = d.Err("algorithms: expected at least one algorithm")
			}
		case "leeway":
			err = caddyfileopt.Duration(d, &c.Leeway)
		case "fetch_timeout":
			err = caddyfileopt.Duration(d, &c.FetchTimeout)
		case "refresh_interval":
			err = caddyfileopt.Duration(d, &c.RefreshInterval)
		case "types":
			c.Types = d.RemainingArgs()
			if len(c.Types) == 0 {
				err = d.Err("types: expected at least one typ value, e.g. types at+jwt")
			}
		case "max_lifetime":
			err = caddyfileopt.Duration(d, &c.MaxLifetime)
		case "cache_size":
			err = caddyfileopt.Int(d, &c.CacheSize)
		default:
			return d.Errf("coven jwt: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *DiscordConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "global_requests":
			err = caddyfileopt.Int(d, &c.GlobalRequests)
		case "invalid_requests":
			err = caddyfileopt.Int(d, &c.InvalidRequests)
		case "backoff_base":
			err = caddyfileopt.Duration(d, &c.BackoffBase)
		case "backoff_max":
			err = caddyfileopt.Duration(d, &c.BackoffMax)
		default:
			return d.Errf("coven discord_limits: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)
