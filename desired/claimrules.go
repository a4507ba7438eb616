package desired

import (
	"path/filepath"
	"strings"
)

// claimRules are what each platform's gateway adapter would claim, one
// rule per platform, in the order claims are listed. Each follows
// gateway/config.py's _apply_env_overrides and the adapter's own reading
// of its settings (Hermes main of 2026-07, plus the newer config.yaml
// forms): when the platform is enabled, where its identity and port come
// from, which of environment and config.yaml wins.
//
// Covered: every credential Hermes guards with a scoped lock (Telegram,
// Discord, Slack's app token, Signal, WhatsApp's session, Feishu, Weixin,
// QQ, Yuanbao, and LINE and IRC, whose lock never refuses) and every
// per-gateway inbound listener. Left out: platforms Hermes locks nothing
// for and that listen on nothing (Matrix, Mattermost, Email, Home
// Assistant, DingTalk, WeCom's bot), and the dashboard (one per container,
// not per profile).
//
// Where config.yaml's enabled: false wins over the environment follows
// Hermes platform by platform: it does for Telegram, Discord, Slack,
// Signal, LINE, IRC and Teams; the environment wins for WhatsApp, the API
// server, the webhooks, Feishu, Weixin, QQ, Yuanbao, SMS, WeCom callback
// and BlueBubbles, whose blocks set enabled regardless.
var claimRules = []struct {
	platform string
	claims   func(in *claimInput)
}{
	{"telegram", telegramClaims},
	{"discord", discordClaims},
	{"slack", slackClaims},
	{"signal", signalClaims},
	{"whatsapp", whatsappClaims},
	{"whatsapp_cloud", whatsappCloudClaims},
	{"feishu", feishuClaims},
	{"weixin", weixinClaims},
	{"qqbot", qqClaims},
	{"yuanbao", yuanbaoClaims},
	{"line", lineClaims},
	{"irc", ircClaims},
	{"api_server", apiServerClaims},
	{"webhook", webhookClaims},
	{"msgraph_webhook", msgraphClaims},
	{"sms", smsClaims},
	{"wecom_callback", wecomCallbackClaims},
	{"bluebubbles", blueBubblesClaims},
	{"teams", teamsClaims},
}

// claimPlatforms names the platforms of claimRules, for config.yaml.
var claimPlatforms = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range claimRules {
		m[r.platform] = true
	}
	return m
}()

// botToken is a bot token as _enable_from_env and the plugin pass decide
// it: a token in the environment enables the platform unless config.yaml
// says enabled: false; without one, config.yaml must enable the platform
// and give the token. A placeholder token disables the platform.
func (in *claimInput) botToken(plat, env string) (string, string, bool) {
	tok, from := in.get(env), in.src(env)
	switch {
	case tok != "":
		if in.off(plat) {
			return "", "", false
		}
	case in.on(plat):
		tok, from = in.token(plat)
	default:
		return "", "", false
	}
	return tok, from, usableSecret(tok, 4)
}

func telegramClaims(in *claimInput) {
	tok, from, ok := in.botToken("telegram", "TELEGRAM_BOT_TOKEN")
	if !ok {
		return
	}
	in.credential("telegram-bot-token", "Telegram bot token", tok, from)
	if strings.TrimSpace(in.get("TELEGRAM_WEBHOOK_URL")) != "" {
		port, from := in.envPort("TELEGRAM_WEBHOOK_PORT", 8443)
		in.port("Telegram webhook", port, from)
	}
}

func discordClaims(in *claimInput) {
	if tok, from, ok := in.botToken("discord", "DISCORD_BOT_TOKEN"); ok {
		in.credential("discord-bot-token", "Discord bot token", tok, from)
	}
}

// slackClaims: the bot token enables Slack, but the lock is on the app
// token, which the adapter reads from the environment only.
func slackClaims(in *claimInput) {
	if _, _, ok := in.botToken("slack", "SLACK_BOT_TOKEN"); ok {
		in.credential("slack-app-token", "Slack app token", in.get("SLACK_APP_TOKEN"), in.src("SLACK_APP_TOKEN"))
	}
}

func signalClaims(in *claimInput) {
	if in.get("SIGNAL_HTTP_URL") != "" && in.get("SIGNAL_ACCOUNT") != "" {
		if !in.off("signal") {
			in.credential("signal-phone", "Signal account", in.get("SIGNAL_ACCOUNT"), in.src("SIGNAL_ACCOUNT"))
		}
		return
	}
	if url, _ := in.extra("signal", "http_url"); in.on("signal") && url != "" {
		acct, from := in.extra("signal", "account")
		in.credential("signal-phone", "Signal account", acct, from)
	}
}

// whatsappClaims: WHATSAPP_ENABLED turns the bridge on or off whatever
// config.yaml says; the lock is on the session directory, and the bridge
// (a node process) listens on its own port, killing whatever held it.
func whatsappClaims(in *claimInput) {
	on := in.on("whatsapp")
	switch strings.ToLower(in.get("WHATSAPP_ENABLED")) {
	case "true", "1", "yes":
		on = true
	case "false", "0", "no":
		on = false
	}
	if !on {
		return
	}
	// Hermes's default is <home>/platforms/whatsapp/session, or the legacy
	// <home>/whatsapp/session when that one has content: either is inside
	// the profile, so two defaults never meet.
	session, from := filepath.Join(in.home, "platforms", "whatsapp", "session"), "default"
	if _, ok := in.plats["whatsapp"].extra["session_path"]; ok {
		session, from = in.extra("whatsapp", "session_path")
	}
	in.credential("whatsapp-session", "WhatsApp session", filepath.Clean(session), from)
	port, from, _ := in.extraPort("whatsapp", "bridge_port", 3000)
	in.port("WhatsApp bridge", port, from)
}

func whatsappCloudClaims(in *claimInput) {
	byEnv := in.get("WHATSAPP_CLOUD_PHONE_NUMBER_ID") != "" && in.get("WHATSAPP_CLOUD_ACCESS_TOKEN") != ""
	if !byEnv {
		id, _ := in.extra("whatsapp_cloud", "phone_number_id")
		tok, _ := in.extra("whatsapp_cloud", "access_token")
		if !in.on("whatsapp_cloud") || id == "" || tok == "" {
			return
		}
	}
	if n, ok := pyInt(in.get("WHATSAPP_CLOUD_WEBHOOK_PORT")); byEnv && ok {
		in.port("WhatsApp Cloud webhook", n, in.src("WHATSAPP_CLOUD_WEBHOOK_PORT"))
		return
	}
	port, from, _ := in.extraPort("whatsapp_cloud", "webhook_port", 8090)
	in.port("WhatsApp Cloud webhook", port, from)
}

// feishuClaims: the lock is on the app id; in webhook mode the adapter
// also listens, once it has a verification token or an encrypt key (it
// refuses to start without one, before taking the lock).
func feishuClaims(in *claimInput) {
	var app, from, mode string
	switch {
	case in.get("FEISHU_APP_ID") != "" && in.get("FEISHU_APP_SECRET") != "":
		app, from = in.get("FEISHU_APP_ID"), in.src("FEISHU_APP_ID")
		mode, _ = firstOf(in.envPair("FEISHU_CONNECTION_MODE"), [2]string{"websocket"})
	case in.on("feishu"):
		app, from = firstOf(in.extraPair("feishu", "app_id"), in.envPair("FEISHU_APP_ID"))
		mode, _ = firstOf(in.extraPair("feishu", "connection_mode"), in.envPair("FEISHU_CONNECTION_MODE"), [2]string{"websocket"})
	default:
		return
	}
	mode = strings.ToLower(strings.TrimSpace(mode))
	if mode == "webhook" {
		v, _ := firstOf(in.extraPair("feishu", "verification_token"), in.envPair("FEISHU_VERIFICATION_TOKEN"),
			in.extraPair("feishu", "encrypt_key"), in.envPair("FEISHU_ENCRYPT_KEY"))
		if v == "" {
			return
		}
	}
	in.credential("feishu-app-id", "Feishu app", app, from)
	if mode == "webhook" {
		port, from := 8765, "default"
		if n, f, set := in.extraPort("feishu", "webhook_port", 0); set && n != 0 {
			port, from = n, f
		} else if in.get("FEISHU_WEBHOOK_PORT") != "" {
			port, from = in.envPort("FEISHU_WEBHOOK_PORT", 8765)
		}
		in.port("Feishu webhook", port, from)
	}
}

// weixinClaims: Weixin needs an account id and a token; either in the
// environment enables it.
func weixinClaims(in *claimInput) {
	if in.get("WEIXIN_TOKEN") == "" && in.get("WEIXIN_ACCOUNT_ID") == "" && !in.on("weixin") {
		return
	}
	tokYAML, tokFrom := in.token("weixin")
	tok, from := firstOf(in.envPair("WEIXIN_TOKEN"), [2]string{tokYAML, tokFrom}, in.extraPair("weixin", "token"))
	acct, _ := firstOf(in.envPair("WEIXIN_ACCOUNT_ID"), in.extraPair("weixin", "account_id"))
	if acct != "" && usableSecret(tok, 4) {
		in.credential("weixin-bot-token", "Weixin bot token", tok, from)
	}
}

func qqClaims(in *claimInput) {
	if in.get("QQ_APP_ID") == "" && in.get("QQ_CLIENT_SECRET") == "" && !in.on("qqbot") {
		return
	}
	app, from := firstOf(in.envPair("QQ_APP_ID"), in.extraPair("qqbot", "app_id"))
	secret, _ := firstOf(in.envPair("QQ_CLIENT_SECRET"), in.extraPair("qqbot", "client_secret"))
	if secret != "" {
		in.credential("qqbot-appid", "QQ bot app", app, from)
	}
}

func yuanbaoClaims(in *claimInput) {
	app, from := firstOf(in.envPair("YUANBAO_APP_ID"), in.envPair("YUANBAO_APP_KEY"))
	if app != "" && in.get("YUANBAO_APP_SECRET") != "" {
		in.credential("yuanbao-app-key", "Yuanbao app", app, from)
		return
	}
	if !in.on("yuanbao") {
		return
	}
	app, from = in.extra("yuanbao", "app_id")
	if secret, _ := in.extra("yuanbao", "app_secret"); secret != "" {
		in.credential("yuanbao-app-key", "Yuanbao app", app, from)
	}
}

// lineClaims: a plugin platform, enabled by config.yaml or by both its
// variables in the environment. Hermes's LINE lock never refuses (it tests
// a tuple for truth), so this claim is the only guard there is.
func lineClaims(in *claimInput) {
	if in.off("line") {
		return
	}
	tok, from := firstOf(in.envPair("LINE_CHANNEL_ACCESS_TOKEN"), in.extraPair("line", "channel_access_token"))
	secret, _ := firstOf(in.envPair("LINE_CHANNEL_SECRET"), in.extraPair("line", "channel_secret"))
	enabled := in.on("line") || (in.get("LINE_CHANNEL_ACCESS_TOKEN") != "" && in.get("LINE_CHANNEL_SECRET") != "")
	if !enabled || tok == "" || secret == "" {
		return
	}
	in.credential("line", "LINE channel token", tok, from)
	port, pfrom := 8646, "default"
	if in.get("LINE_PORT") != "" {
		port, pfrom = in.envPort("LINE_PORT", 8646)
	} else if n, f, set := in.extraPort("line", "port", 8646); set {
		port, pfrom = n, f
	}
	in.port("LINE webhook", port, pfrom)
}

// ircClaims: the identity is server:nick, as Hermes's lock has it (which,
// like LINE's, never refuses).
func ircClaims(in *claimInput) {
	if in.off("irc") {
		return
	}
	server, sfrom := firstOf(in.envPair("IRC_SERVER"), in.extraPair("irc", "server"))
	channel, _ := firstOf(in.envPair("IRC_CHANNEL"), in.extraPair("irc", "channel"))
	enabled := in.on("irc") || (in.get("IRC_SERVER") != "" && in.get("IRC_CHANNEL") != "")
	if !enabled || server == "" || channel == "" {
		return
	}
	nick, nfrom := firstOf(in.envPair("IRC_NICKNAME"), in.extraPair("irc", "nickname"), [2]string{"hermes-bot", "default"})
	in.credential("irc", "IRC server and nick", server+":"+nick, sfrom+" and "+nfrom)
}

// apiServerClaims: API_SERVER_ENABLED or any API_SERVER_KEY enables the
// server, whatever the profile's .env or config.yaml say otherwise (#80310:
// an inherited key alone does it). When the environment enabled it,
// API_SERVER_PORT overrides config.yaml's port; otherwise config.yaml's
// port comes first. Without a strong key (16 characters, no placeholder)
// the server refuses to start and binds nothing.
func apiServerClaims(in *claimInput) {
	byEnv := in.envOn("API_SERVER_ENABLED") || in.get("API_SERVER_KEY") != ""
	if !byEnv && !in.on("api_server") {
		return
	}
	key := in.get("API_SERVER_KEY")
	if _, ok := in.plats["api_server"].extra["key"]; ok && !(byEnv && key != "") {
		key, _ = in.extra("api_server", "key")
	}
	if !usableSecret(key, 16) {
		return
	}
	port, from := 8642, "default"
	if n, ok := pyInt(in.get("API_SERVER_PORT")); byEnv && ok {
		port, from = n, in.src("API_SERVER_PORT")
	} else if n, f, set := in.extraPort("api_server", "port", 8642); set {
		port, from = n, f
	} else if in.has("API_SERVER_PORT") {
		port, from = in.envPort("API_SERVER_PORT", 8642)
	}
	in.port("API server", port, from)
}

func webhookClaims(in *claimInput) {
	byEnv := in.envOn("WEBHOOK_ENABLED")
	if !byEnv && !in.on("webhook") {
		return
	}
	if n, ok := pyInt(in.get("WEBHOOK_PORT")); byEnv && ok {
		in.port("webhook", n, in.src("WEBHOOK_PORT"))
		return
	}
	port, from, _ := in.extraPort("webhook", "port", 8644)
	in.port("webhook", port, from)
}

// msgraphClaims: the Microsoft Graph webhook counts as configured only with
// a client state.
func msgraphClaims(in *claimInput) {
	if !in.envOn("MSGRAPH_WEBHOOK_ENABLED") && !in.on("msgraph_webhook") {
		return
	}
	if state, _ := firstOf(in.envPair("MSGRAPH_WEBHOOK_CLIENT_STATE"), in.extraPair("msgraph_webhook", "client_state")); strings.TrimSpace(state) == "" {
		return
	}
	if n, ok := pyInt(in.get("MSGRAPH_WEBHOOK_PORT")); ok {
		in.port("Microsoft Graph webhook", n, in.src("MSGRAPH_WEBHOOK_PORT"))
		return
	}
	port, from, _ := in.extraPort("msgraph_webhook", "port", 8646)
	in.port("Microsoft Graph webhook", port, from)
}

// smsClaims: the adapter reads TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN
// from the environment and fails without them; its port too.
func smsClaims(in *claimInput) {
	if in.get("TWILIO_ACCOUNT_SID") == "" && !in.on("sms") {
		return
	}
	if !in.has("TWILIO_ACCOUNT_SID") || !in.has("TWILIO_AUTH_TOKEN") {
		return
	}
	port, from := in.envPort("SMS_WEBHOOK_PORT", 8080)
	in.port("SMS webhook", port, from)
}

// wecomCallbackClaims: when the environment enables the callback, its port
// comes from the environment alone (WECOM_CALLBACK_PORT, else 8645).
func wecomCallbackClaims(in *claimInput) {
	if in.get("WECOM_CALLBACK_CORP_ID") != "" && in.get("WECOM_CALLBACK_CORP_SECRET") != "" {
		port, from := in.envPort("WECOM_CALLBACK_PORT", 8645)
		in.port("WeCom callback", port, from)
		return
	}
	corp, _ := in.extra("wecom_callback", "corp_id")
	secret, _ := in.extra("wecom_callback", "corp_secret")
	if !in.on("wecom_callback") || corp == "" || secret == "" {
		return
	}
	port, from, _ := in.extraPort("wecom_callback", "port", 8645)
	in.port("WeCom callback", port, from)
}

func blueBubblesClaims(in *claimInput) {
	if in.get("BLUEBUBBLES_SERVER_URL") != "" && in.get("BLUEBUBBLES_PASSWORD") != "" {
		port, from := in.envPort("BLUEBUBBLES_WEBHOOK_PORT", 8645)
		in.port("BlueBubbles webhook", port, from)
		return
	}
	url, _ := in.extra("bluebubbles", "server_url")
	pw, _ := in.extra("bluebubbles", "password")
	if !in.on("bluebubbles") || url == "" || pw == "" {
		return
	}
	port, from := 8645, "default"
	if n, f, set := in.extraPort("bluebubbles", "webhook_port", 0); set && n != 0 {
		port, from = n, f
	} else if in.get("BLUEBUBBLES_WEBHOOK_PORT") != "" {
		port, from = in.envPort("BLUEBUBBLES_WEBHOOK_PORT", 8645)
	}
	in.port("BlueBubbles webhook", port, from)
}

// teamsClaims: a plugin platform, enabled by config.yaml or by its three
// credentials (environment or config.yaml). With all three in the
// environment, TEAMS_PORT is written over config.yaml's port.
func teamsClaims(in *claimInput) {
	if in.off("teams") {
		return
	}
	id, _ := firstOf(in.envPair("TEAMS_CLIENT_ID"), in.extraPair("teams", "client_id"))
	secret, _ := firstOf(in.envPair("TEAMS_CLIENT_SECRET"), in.extraPair("teams", "client_secret"))
	tenant, _ := firstOf(in.envPair("TEAMS_TENANT_ID"), in.extraPair("teams", "tenant_id"))
	if id == "" || secret == "" || tenant == "" {
		return
	}
	envCreds := strings.TrimSpace(in.get("TEAMS_CLIENT_ID")) != "" && strings.TrimSpace(in.get("TEAMS_CLIENT_SECRET")) != "" &&
		strings.TrimSpace(in.get("TEAMS_TENANT_ID")) != ""
	port, from := 3978, "default"
	if n, ok := pyInt(in.get("TEAMS_PORT")); envCreds && ok {
		port, from = n, in.src("TEAMS_PORT")
	} else if n, f, set := in.extraPort("teams", "port", 0); set && n != 0 {
		port, from = n, f
	} else if in.get("TEAMS_PORT") != "" {
		port, from = in.envPort("TEAMS_PORT", 3978)
	}
	in.port("Teams", port, from)
}

// gatewayClaims is what a gateway would claim that runs in env, with
// plats from its config.yaml and home as its HERMES_HOME.
func gatewayClaims(env *gatewayEnv, plats platformConfigs, home string) Claims {
	in := &claimInput{env: env, plats: plats, home: home}
	for _, r := range claimRules {
		r.claims(in)
	}
	return in.out
}
