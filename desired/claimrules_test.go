package desired

import (
	"fmt"
	"strings"
	"testing"
)

// claimRow is one gateway: what it inherits, its profile's .env, the
// managed .env and its config.yaml; want is what it would claim, one line
// per claim, "Kind = identity <- From" (a port has no identity).
type claimRow struct {
	name                 string
	inherited            map[string]string
	env, managed, config string
	want                 []string
}

// identities are the credential values the rows use: a claim's
// fingerprint is matched against them to say which one it holds.
var identities = []string{
	"tg-inherited-token", "tg-env-token", "tg-managed-token", "tg-yaml-token", "tg-nested-token", "stripped-token",
	"dc-token", "xapp-1", "+15550001", "+15550002", "/home/p/platforms/whatsapp/session", "/srv/wa", "cli_app", "cli_yaml",
	"wx-token", "1020", "1030", "yb-app", "yb-key", "line-token", "irc.libera.chat:hermes-bot", "irc.libera.chat:coder",
	"irc.oftc.net:bot",
}

// claimLines renders claims for a row's want.
func claimLines(cs Claims) []string {
	out := []string{}
	for _, c := range cs {
		line := c.Kind
		if c.Scope != ScopePort {
			id := "?"
			for _, cand := range identities {
				if fingerprintOf(c.Scope, cand) == c.id {
					id = cand
				}
			}
			line += " = " + id
		}
		out = append(out, line+" <- "+c.From)
	}
	return out
}

// claimsOfRow is what the row's gateway would claim, home /home/p.
func claimsOfRow(t *testing.T, row claimRow) Claims {
	t.Helper()
	ge := newGatewayEnv(row.inherited)
	if row.env != "" {
		b, d := ParseDotEnv("/home/p/.env", []byte(row.env))
		if len(d) > 0 {
			t.Fatalf(".env: %v", d)
		}
		ge.load(b, "profile .env")
	}
	if row.managed != "" {
		b, _ := ParseDotEnv("/etc/hermes/.env", []byte(row.managed))
		ge.load(b, "managed .env")
	}
	_, top, err := parseConfig([]byte(row.config))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	return gatewayClaims(ge, parsePlatforms(top, claimPlatforms), "/home/p")
}

func runClaimRows(t *testing.T, rows []claimRow) {
	t.Helper()
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			got := claimLines(claimsOfRow(t, row))
			want := row.want
			if want == nil {
				want = []string{}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("claims:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

const strongKey = "0123456789abcdef0123"

// TestClaimPrecedence: the layers in Hermes's order. The environment the
// unit hands down, then the profile's .env over it, then the managed .env
// over both; config.yaml beneath all of them, except that its explicit
// enabled: false holds against a token in the environment.
func TestClaimPrecedence(t *testing.T) {
	runClaimRows(t, []claimRow{
		{name: "inherited token", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			want: []string{"Telegram bot token = tg-inherited-token <- TELEGRAM_BOT_TOKEN (inherited)"}},
		{name: "profile .env over inherited", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			env:  "TELEGRAM_BOT_TOKEN=tg-env-token\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
		{name: "managed .env over both", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			env: "TELEGRAM_BOT_TOKEN=tg-env-token\n", managed: "TELEGRAM_BOT_TOKEN=tg-managed-token\n",
			want: []string{"Telegram bot token = tg-managed-token <- TELEGRAM_BOT_TOKEN (managed .env)"}},
		{name: "KEY= masks an inherited key", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			env: "TELEGRAM_BOT_TOKEN=\n"},
		{name: "a bare KEY masks nothing", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			env:  "TELEGRAM_BOT_TOKEN\n",
			want: []string{"Telegram bot token = tg-inherited-token <- TELEGRAM_BOT_TOKEN (inherited)"}},
		{name: "enabled: false beats an env token", inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token"},
			config: "platforms:\n  telegram:\n    enabled: false\n"},
		{name: "enabled: \"off\" is false too", env: "TELEGRAM_BOT_TOKEN=tg-env-token\n",
			config: "platforms:\n  telegram:\n    enabled: \"off\"\n"},
		{name: "env token beats config.yaml's", env: "TELEGRAM_BOT_TOKEN=tg-env-token\n",
			config: "platforms:\n  telegram:\n    enabled: true\n    token: tg-yaml-token\n",
			want:   []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
		{name: "config.yaml token when enabled", config: "platforms:\n  telegram:\n    enabled: true\n    token: tg-yaml-token\n",
			want: []string{"Telegram bot token = tg-yaml-token <- config.yaml telegram token"}},
		{name: "config.yaml token alone does not enable", config: "platforms:\n  telegram:\n    token: tg-yaml-token\n"},
		{name: "platforms over gateway.platforms",
			config: "gateway:\n  platforms:\n    telegram:\n      enabled: true\n      token: tg-nested-token\nplatforms:\n  telegram:\n    token: tg-yaml-token\n",
			want:   []string{"Telegram bot token = tg-yaml-token <- config.yaml telegram token"}},
		{name: "gateway.platforms alone", config: "gateway:\n  platforms:\n    telegram:\n      enabled: true\n      token: tg-nested-token\n",
			want: []string{"Telegram bot token = tg-nested-token <- config.yaml telegram token"}},
		{name: "top-level block's enabled has the last word", env: "TELEGRAM_BOT_TOKEN=tg-env-token\n",
			config: "platforms:\n  telegram:\n    enabled: true\ntelegram:\n  enabled: false\n"},
		{name: "config.yaml ${VAR} expanded from the gateway's env", env: "MY_TG=tg-env-token\n",
			config: "platforms:\n  telegram:\n    enabled: true\n    token: ${MY_TG}\n",
			want:   []string{"Telegram bot token = tg-env-token <- config.yaml telegram token"}},
		{name: ".env ${VAR} expanded from the inherited env", inherited: map[string]string{"SHARED": "tg-inherited-token"},
			env:  "TELEGRAM_BOT_TOKEN=${SHARED}\n",
			want: []string{"Telegram bot token = tg-inherited-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
		{name: ".env ${VAR:-default}", env: "TELEGRAM_BOT_TOKEN=${UNSET:-tg-env-token}\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
		{name: "managed .env expands against the profile's", env: "MINE=tg-env-token\n", managed: "TELEGRAM_BOT_TOKEN=${MINE}\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (managed .env)"}},
		{name: "non-ASCII stripped from credentials once a .env is loaded", env: "TELEGRAM_BOT_TOKEN=stripped\u028b-token\n",
			want: []string{"Telegram bot token = stripped-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
		{name: "placeholder token disables", env: "TELEGRAM_BOT_TOKEN=changeme\n"},
		{name: "blanks around a token do not make another identity", env: "TELEGRAM_BOT_TOKEN=' tg-env-token '\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)"}},
	})
}

// TestClaimRules: one row (or a few) per platform and listener.
func TestClaimRules(t *testing.T) {
	runClaimRows(t, []claimRow{
		// Telegram's webhook mode listens.
		{name: "telegram webhook", env: "TELEGRAM_BOT_TOKEN=tg-env-token\nTELEGRAM_WEBHOOK_URL=https://x/tg\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)",
				"Telegram webhook port 8443 <- default"}},
		{name: "telegram webhook port", env: "TELEGRAM_BOT_TOKEN=tg-env-token\nTELEGRAM_WEBHOOK_URL=https://x/tg\nTELEGRAM_WEBHOOK_PORT=9443\n",
			want: []string{"Telegram bot token = tg-env-token <- TELEGRAM_BOT_TOKEN (profile .env)",
				"Telegram webhook port 9443 <- TELEGRAM_WEBHOOK_PORT (profile .env)"}},
		{name: "telegram webhook without a token", env: "TELEGRAM_WEBHOOK_URL=https://x/tg\n"},

		{name: "discord", env: "DISCORD_BOT_TOKEN=dc-token\n", want: []string{"Discord bot token = dc-token <- DISCORD_BOT_TOKEN (profile .env)"}},
		{name: "discord disabled", env: "DISCORD_BOT_TOKEN=dc-token\n", config: "discord:\n  enabled: false\n"},

		{name: "slack claims the app token", env: "SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\n",
			want: []string{"Slack app token = xapp-1 <- SLACK_APP_TOKEN (profile .env)"}},
		{name: "slack without a bot token", env: "SLACK_APP_TOKEN=xapp-1\n"},
		{name: "slack without an app token", env: "SLACK_BOT_TOKEN=xoxb-1\n"},
		{name: "slack disabled", env: "SLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\n", config: "platforms:\n  slack:\n    enabled: false\n"},

		{name: "signal", env: "SIGNAL_HTTP_URL=http://127.0.0.1:8080\nSIGNAL_ACCOUNT=+15550001\n",
			want: []string{"Signal account = +15550001 <- SIGNAL_ACCOUNT (profile .env)"}},
		{name: "signal needs its URL", env: "SIGNAL_ACCOUNT=+15550001\n"},
		{name: "signal from config.yaml",
			config: "platforms:\n  signal:\n    enabled: true\n    extra:\n      http_url: http://127.0.0.1:8080\n      account: \"+15550002\"\n",
			want:   []string{"Signal account = +15550002 <- config.yaml signal extra.account"}},

		{name: "whatsapp defaults", env: "WHATSAPP_ENABLED=true\n",
			want: []string{"WhatsApp session = /home/p/platforms/whatsapp/session <- default", "WhatsApp bridge port 3000 <- default"}},
		{name: "whatsapp from config.yaml", config: "whatsapp:\n  enabled: true\n  extra:\n    session_path: /srv/wa/\n    bridge_port: 3001\n",
			want: []string{"WhatsApp session = /srv/wa <- config.yaml whatsapp extra.session_path", "WhatsApp bridge port 3001 <- config.yaml whatsapp extra.bridge_port"}},
		{name: "WHATSAPP_ENABLED=false beats config.yaml", env: "WHATSAPP_ENABLED=false\n", config: "platforms:\n  whatsapp:\n    enabled: true\n"},
		{name: "WHATSAPP_ENABLED=true beats enabled: false", env: "WHATSAPP_ENABLED=yes\n", config: "platforms:\n  whatsapp:\n    enabled: false\n",
			want: []string{"WhatsApp session = /home/p/platforms/whatsapp/session <- default", "WhatsApp bridge port 3000 <- default"}},

		{name: "whatsapp cloud", env: "WHATSAPP_CLOUD_PHONE_NUMBER_ID=1\nWHATSAPP_CLOUD_ACCESS_TOKEN=t\n",
			want: []string{"WhatsApp Cloud webhook port 8090 <- default"}},
		{name: "whatsapp cloud port", env: "WHATSAPP_CLOUD_PHONE_NUMBER_ID=1\nWHATSAPP_CLOUD_ACCESS_TOKEN=t\nWHATSAPP_CLOUD_WEBHOOK_PORT=8091\n",
			want: []string{"WhatsApp Cloud webhook port 8091 <- WHATSAPP_CLOUD_WEBHOOK_PORT (profile .env)"}},

		{name: "feishu websocket", env: "FEISHU_APP_ID=cli_app\nFEISHU_APP_SECRET=s\n",
			want: []string{"Feishu app = cli_app <- FEISHU_APP_ID (profile .env)"}},
		{name: "feishu needs its secret", env: "FEISHU_APP_ID=cli_app\n"},
		{name: "feishu webhook mode listens", env: "FEISHU_APP_ID=cli_app\nFEISHU_APP_SECRET=s\nFEISHU_CONNECTION_MODE=webhook\nFEISHU_VERIFICATION_TOKEN=v\n",
			want: []string{"Feishu app = cli_app <- FEISHU_APP_ID (profile .env)", "Feishu webhook port 8765 <- default"}},
		{name: "feishu webhook mode without a verification token refuses", env: "FEISHU_APP_ID=cli_app\nFEISHU_APP_SECRET=s\nFEISHU_CONNECTION_MODE=webhook\n"},
		{name: "feishu from config.yaml", config: "platforms:\n  feishu:\n    enabled: true\n    extra:\n      app_id: cli_yaml\n      connection_mode: webhook\n      encrypt_key: k\n      webhook_port: 8766\n",
			want: []string{"Feishu app = cli_yaml <- config.yaml feishu extra.app_id", "Feishu webhook port 8766 <- config.yaml feishu extra.webhook_port"}},

		{name: "weixin", env: "WEIXIN_TOKEN=wx-token\nWEIXIN_ACCOUNT_ID=a\n", want: []string{"Weixin bot token = wx-token <- WEIXIN_TOKEN (profile .env)"}},
		{name: "weixin needs an account", env: "WEIXIN_TOKEN=wx-token\n"},

		{name: "qq", env: "QQ_APP_ID=1020\nQQ_CLIENT_SECRET=s\n", want: []string{"QQ bot app = 1020 <- QQ_APP_ID (profile .env)"}},
		{name: "qq needs its secret", env: "QQ_APP_ID=1020\n"},
		{name: "qq from config.yaml", config: "platforms:\n  qqbot:\n    enabled: true\n    extra:\n      app_id: 1030\n      client_secret: s\n",
			want: []string{"QQ bot app = 1030 <- config.yaml qqbot extra.app_id"}},

		{name: "yuanbao", env: "YUANBAO_APP_ID=yb-app\nYUANBAO_APP_SECRET=s\n", want: []string{"Yuanbao app = yb-app <- YUANBAO_APP_ID (profile .env)"}},
		{name: "yuanbao by its old name", env: "YUANBAO_APP_KEY=yb-key\nYUANBAO_APP_SECRET=s\n", want: []string{"Yuanbao app = yb-key <- YUANBAO_APP_KEY (profile .env)"}},

		{name: "line", env: "LINE_CHANNEL_ACCESS_TOKEN=line-token\nLINE_CHANNEL_SECRET=s\n",
			want: []string{"LINE channel token = line-token <- LINE_CHANNEL_ACCESS_TOKEN (profile .env)", "LINE webhook port 8646 <- default"}},
		{name: "line port", env: "LINE_CHANNEL_ACCESS_TOKEN=line-token\nLINE_CHANNEL_SECRET=s\nLINE_PORT=8700\n",
			want: []string{"LINE channel token = line-token <- LINE_CHANNEL_ACCESS_TOKEN (profile .env)", "LINE webhook port 8700 <- LINE_PORT (profile .env)"}},
		{name: "line disabled", env: "LINE_CHANNEL_ACCESS_TOKEN=line-token\nLINE_CHANNEL_SECRET=s\n", config: "line:\n  enabled: false\n"},

		{name: "irc", env: "IRC_SERVER=irc.libera.chat\nIRC_CHANNEL=#h\n",
			want: []string{"IRC server and nick = irc.libera.chat:hermes-bot <- IRC_SERVER (profile .env) and default"}},
		{name: "irc nick", env: "IRC_SERVER=irc.libera.chat\nIRC_CHANNEL=#h\nIRC_NICKNAME=coder\n",
			want: []string{"IRC server and nick = irc.libera.chat:coder <- IRC_SERVER (profile .env) and IRC_NICKNAME (profile .env)"}},
		{name: "irc from config.yaml", config: "platforms:\n  irc:\n    enabled: true\n    extra: {server: irc.oftc.net, channel: \"#h\", nickname: bot}\n",
			want: []string{"IRC server and nick = irc.oftc.net:bot <- config.yaml irc extra.server and config.yaml irc extra.nickname"}},
		{name: "irc needs a channel", env: "IRC_SERVER=irc.libera.chat\n"},

		{name: "webhook", env: "WEBHOOK_ENABLED=true\n", want: []string{"webhook port 8644 <- default"}},
		{name: "webhook port", env: "WEBHOOK_ENABLED=1\nWEBHOOK_PORT=9644\n", want: []string{"webhook port 9644 <- WEBHOOK_PORT (profile .env)"}},
		{name: "webhook from config.yaml", config: "platforms:\n  webhook:\n    enabled: true\n    extra:\n      port: 9645\n",
			want: []string{"webhook port 9645 <- config.yaml webhook extra.port"}},
		{name: "webhook not enabled by its port", env: "WEBHOOK_PORT=9644\n"},

		{name: "msgraph", env: "MSGRAPH_WEBHOOK_ENABLED=true\nMSGRAPH_WEBHOOK_CLIENT_STATE=cs\n", want: []string{"Microsoft Graph webhook port 8646 <- default"}},
		{name: "msgraph needs a client state", env: "MSGRAPH_WEBHOOK_ENABLED=true\n"},
		{name: "msgraph port", env: "MSGRAPH_WEBHOOK_ENABLED=true\nMSGRAPH_WEBHOOK_CLIENT_STATE=cs\nMSGRAPH_WEBHOOK_PORT=8700\n",
			want: []string{"Microsoft Graph webhook port 8700 <- MSGRAPH_WEBHOOK_PORT (profile .env)"}},

		{name: "sms", env: "TWILIO_ACCOUNT_SID=AC1\nTWILIO_AUTH_TOKEN=t\n", want: []string{"SMS webhook port 8080 <- default"}},
		{name: "sms port", env: "TWILIO_ACCOUNT_SID=AC1\nTWILIO_AUTH_TOKEN=t\nSMS_WEBHOOK_PORT=8081\n", want: []string{"SMS webhook port 8081 <- SMS_WEBHOOK_PORT (profile .env)"}},
		{name: "sms without its auth token", env: "TWILIO_ACCOUNT_SID=AC1\n"},

		{name: "wecom callback", env: "WECOM_CALLBACK_CORP_ID=c\nWECOM_CALLBACK_CORP_SECRET=s\n", want: []string{"WeCom callback port 8645 <- default"}},
		{name: "wecom callback port from env over config.yaml", env: "WECOM_CALLBACK_CORP_ID=c\nWECOM_CALLBACK_CORP_SECRET=s\nWECOM_CALLBACK_PORT=8655\n",
			config: "platforms:\n  wecom_callback:\n    extra: {port: 8656}\n",
			want:   []string{"WeCom callback port 8655 <- WECOM_CALLBACK_PORT (profile .env)"}},

		{name: "bluebubbles", env: "BLUEBUBBLES_SERVER_URL=http://mac:1234\nBLUEBUBBLES_PASSWORD=p\n", want: []string{"BlueBubbles webhook port 8645 <- default"}},
		{name: "bluebubbles port", env: "BLUEBUBBLES_SERVER_URL=http://mac:1234\nBLUEBUBBLES_PASSWORD=p\nBLUEBUBBLES_WEBHOOK_PORT=8647\n",
			want: []string{"BlueBubbles webhook port 8647 <- BLUEBUBBLES_WEBHOOK_PORT (profile .env)"}},

		{name: "teams", env: "TEAMS_CLIENT_ID=i\nTEAMS_CLIENT_SECRET=s\nTEAMS_TENANT_ID=t\n", want: []string{"Teams port 3978 <- default"}},
		{name: "teams port", env: "TEAMS_CLIENT_ID=i\nTEAMS_CLIENT_SECRET=s\nTEAMS_TENANT_ID=t\nTEAMS_PORT=3979\n", want: []string{"Teams port 3979 <- TEAMS_PORT (profile .env)"}},
		{name: "teams needs all three", env: "TEAMS_CLIENT_ID=i\nTEAMS_CLIENT_SECRET=s\n"},
		{name: "teams disabled", env: "TEAMS_CLIENT_ID=i\nTEAMS_CLIENT_SECRET=s\nTEAMS_TENANT_ID=t\n", config: "teams:\n  enabled: false\n"},

		{name: "default ports collide inside one gateway",
			env: "LINE_CHANNEL_ACCESS_TOKEN=line-token\nLINE_CHANNEL_SECRET=s\nMSGRAPH_WEBHOOK_ENABLED=true\nMSGRAPH_WEBHOOK_CLIENT_STATE=cs\n",
			want: []string{"LINE channel token = line-token <- LINE_CHANNEL_ACCESS_TOKEN (profile .env)", "LINE webhook port 8646 <- default",
				"Microsoft Graph webhook port 8646 <- default"}},
	})
}

// TestAPIServerClaims: the API server's enablement and port, as
// gateway/config.py and api_server.py decide them (reference §2).
func TestAPIServerClaims(t *testing.T) {
	key := "API_SERVER_KEY=" + strongKey + "\n"
	runClaimRows(t, []claimRow{
		{name: "enabled with a key", env: "API_SERVER_ENABLED=true\n" + key, want: []string{"API server port 8642 <- default"}},
		{name: "a key alone enables it", env: key, want: []string{"API server port 8642 <- default"}},
		{name: "#80310: an inherited key beats API_SERVER_ENABLED=false in the profile",
			inherited: map[string]string{"API_SERVER_KEY": strongKey, "API_SERVER_ENABLED": "true"},
			env:       "API_SERVER_ENABLED=false\n", want: []string{"API server port 8642 <- default"}},
		{name: "#80310 fixed by masking the key", inherited: map[string]string{"API_SERVER_KEY": strongKey, "API_SERVER_ENABLED": "true"},
			env: "API_SERVER_ENABLED=false\nAPI_SERVER_KEY=\n"},
		{name: "the environment beats enabled: false", env: key, config: "platforms:\n  api_server:\n    enabled: false\n",
			want: []string{"API server port 8642 <- default"}},
		{name: "enabled without a key binds nothing", env: "API_SERVER_ENABLED=true\n"},
		{name: "a weak key binds nothing", env: "API_SERVER_KEY=short\n"},
		{name: "a placeholder key binds nothing", env: "API_SERVER_KEY=your_api_key_here\n"},
		{name: "API_SERVER_ENABLED wants lower-case words", env: "API_SERVER_ENABLED=on\n", config: "platforms:\n  api_server:\n    extra:\n      key: " + strongKey + "\n"},
		{name: "env port", env: key + "API_SERVER_PORT=9642\n", want: []string{"API server port 9642 <- API_SERVER_PORT (profile .env)"}},
		{name: "env port over config.yaml's when the env enabled it", env: key + "API_SERVER_PORT=9642\n",
			config: "platforms:\n  api_server:\n    extra:\n      port: 9643\n", want: []string{"API server port 9642 <- API_SERVER_PORT (profile .env)"}},
		{name: "config.yaml port when the env enabled it without a port", env: key,
			config: "platforms:\n  api_server:\n    extra:\n      port: 9643\n", want: []string{"API server port 9643 <- config.yaml api_server extra.port"}},
		{name: "config.yaml enabled: config.yaml port first", inherited: map[string]string{"API_SERVER_PORT": "9642"},
			config: "platforms:\n  api_server:\n    enabled: true\n    extra:\n      key: " + strongKey + "\n      port: 9643\n",
			want:   []string{"API server port 9643 <- config.yaml api_server extra.port"}},
		{name: "config.yaml enabled, no port there: API_SERVER_PORT", inherited: map[string]string{"API_SERVER_PORT": "9642"},
			config: "platforms:\n  api_server:\n    enabled: true\n    extra:\n      key: " + strongKey + "\n",
			want:   []string{"API server port 9642 <- API_SERVER_PORT (inherited)"}},
		{name: "config.yaml enabled, key from the env", inherited: map[string]string{"API_SERVER_KEY": strongKey},
			config: "platforms:\n  api_server:\n    enabled: true\n", want: []string{"API server port 8642 <- default"}},
		{name: "port: beside extra (newer Hermes)", env: key, config: "platforms:\n  api_server:\n    port: 8651\n",
			want: []string{"API server port 8651 <- config.yaml api_server extra.port"}},
		{name: "extra.port beats port: beside it", env: key, config: "platforms:\n  api_server:\n    port: 8651\n    extra:\n      port: 8652\n",
			want: []string{"API server port 8652 <- config.yaml api_server extra.port"}},
		{name: "gateway.api_server.port (newer Hermes)", env: key, config: "gateway:\n  api_server:\n    port: 8653\n",
			want: []string{"API server port 8653 <- config.yaml api_server extra.port"}},
		{name: "a quoted port", env: key, config: "platforms:\n  api_server:\n    extra:\n      port: \"8654\"\n",
			want: []string{"API server port 8654 <- config.yaml api_server extra.port"}},
		{name: "a port that is no number falls back", env: key, config: "platforms:\n  api_server:\n    extra:\n      port: eighty\n",
			want: []string{"API server port 8642 <- default"}},
		{name: "port 0 claims nothing", env: key + "API_SERVER_PORT=0\n"},
		{name: "the port from a ${VAR} in config.yaml", env: key + "MY_PORT=8655\n",
			config: "platforms:\n  api_server:\n    extra:\n      port: ${MY_PORT}\n", want: []string{"API server port 8655 <- config.yaml api_server extra.port"}},
	})
}

// TestClaimConflicts: claims compare by Key alone, never by where the
// value came from; ports by number whatever the listener.
func TestClaimConflicts(t *testing.T) {
	a := claimsOfRow(t, claimRow{inherited: map[string]string{"TELEGRAM_BOT_TOKEN": "tg-inherited-token", "API_SERVER_KEY": strongKey}})
	b := claimsOfRow(t, claimRow{env: "TELEGRAM_BOT_TOKEN=tg-inherited-token\nMSGRAPH_WEBHOOK_ENABLED=true\nMSGRAPH_WEBHOOK_CLIENT_STATE=c\nMSGRAPH_WEBHOOK_PORT=8642\n"})
	c := claimsOfRow(t, claimRow{env: "TELEGRAM_BOT_TOKEN=tg-env-token\nDISCORD_BOT_TOKEN=tg-inherited-token\n"})
	if got := claimLines(a.Shared(b)); fmt.Sprint(got) != "[Telegram bot token = tg-inherited-token <- TELEGRAM_BOT_TOKEN (inherited) API server port 8642 <- default]" {
		t.Errorf("a and b share %v", got)
	}
	if got := a.Shared(c); len(got) != 0 {
		t.Errorf("another token, or the same value as another platform's token, is no conflict: %v", claimLines(got))
	}
}
