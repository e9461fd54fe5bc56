package ytxsim

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/yuntongxun"
)

// maxBody bounds a request body; command bodies are a few hundred bytes.
const maxBody = 64 << 10

// attrs are a command's parameters by name: its XML attributes, plus the
// text of child elements, for the child-element variant one client was
// seen to send.
type attrs map[string]string

// answer is a platform answer: statusCode and fields, in order.
type answer struct {
	code   string
	msg    string
	fields []kv
}

func refuse(code, msg string) answer { return answer{code: code, msg: msg} }

func ok(fields ...kv) answer { return answer{code: yuntongxun.StatusOK, fields: fields} }

// servePlatform serves POST /2013-12-26/Accounts/{sid}/ivr/{createconf|conf}.
func (s *Sim) servePlatform(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/"+Version+"/Accounts/")
	sid, endpoint, found := strings.Cut(rest, "/ivr/")
	if !found || rest == r.URL.Path || sid == "" || strings.Contains(sid, "/") ||
		(endpoint != "createconf" && endpoint != "conf") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if d := s.nextLatency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.ctx.Done():
			t.Stop()
			http.Error(w, "simulator closed", http.StatusServiceUnavailable)
			return
		}
	}
	a := s.handle(r, sid, endpoint)
	writeAnswer(w, r, a)
}

// handle checks auth and the body, then runs the command.
func (s *Sim) handle(r *http.Request, sid, endpoint string) answer {
	if a, bad := s.checkAuth(r, sid); bad {
		return a
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return refuse(yuntongxun.CodeBadRequest, "读取请求失败")
	}
	if len(body) > maxBody {
		return refuse(yuntongxun.CodeBadRequest, "请求包体过大")
	}
	app, name, params, a, bad := parseRequest(body)
	if bad {
		return a
	}
	if app == "" {
		return refuse(yuntongxun.CodeAppIDMissing, "应用ID为空")
	}
	if app != s.cfg.AppID {
		return refuse(yuntongxun.CodeAppMissing, "应用不存在")
	}
	// Dispatch is on the command element, not the path: one client posts
	// InviteJoinConf to /ivr/createconf. The confid may come
	// from the attribute or the query.
	if name != yuntongxun.CmdCreateConf {
		q := r.URL.Query().Get("confid")
		switch {
		case params["confid"] == "":
			params["confid"] = q
		case q != "" && q != params["confid"]:
			return refuse(yuntongxun.CodeBadParam, "confid参数不一致")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return refuse(yuntongxun.CodeConfAPIFailed, "simulator closed")
	}
	switch name {
	case yuntongxun.CmdCreateConf:
		return s.cmdCreate(r, params)
	case yuntongxun.CmdInviteJoinConf:
		return s.cmdInvite(params)
	case yuntongxun.CmdQuitConf:
		return s.cmdQuit(params)
	case yuntongxun.CmdDismissConf:
		return s.cmdDismiss(params)
	case yuntongxun.CmdQueryConfState:
		return s.cmdQuery(params)
	case yuntongxun.CmdConfMute, yuntongxun.CmdConfUnMute:
		return s.cmdMute(name, params)
	case yuntongxun.CmdConfPlay:
		return s.cmdPlay(params)
	case yuntongxun.CmdConfStopPlay:
		return s.cmdStopPlay(params)
	case yuntongxun.CmdConfRecord:
		return s.cmdRecord(params)
	case yuntongxun.CmdConfStopRecord:
		return s.cmdStopRecord(params)
	}
	return refuse(yuntongxun.CodeBadRequest, "未知命令 "+name)
}

// checkAuth verifies the account, the Authorization header and sig
// as the platform computes them; it returns bad=true with the refusal.
func (s *Sim) checkAuth(r *http.Request, sid string) (answer, bool) {
	if sid != s.cfg.AccountSID {
		return refuse(yuntongxun.CodeAccountMissing, "主账户不存在"), true
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return refuse(yuntongxun.CodeAuthorizationEmpty, "请求包头Authorization参数为空"), true
	}
	dec, err := base64.StdEncoding.DecodeString(authz)
	if err != nil {
		return refuse(yuntongxun.CodeAuthorizationBase64, "请求包头Authorization参数Base64解码失败"), true
	}
	aSID, ts, found := strings.Cut(string(dec), ":")
	if !found || aSID == "" || ts == "" {
		return refuse(yuntongxun.CodeAuthorizationFormat, "请求包头Authorization参数解码后格式有误"), true
	}
	if aSID != sid {
		return refuse(yuntongxun.CodeAuthorizationOther, "请求包头Authorization参数中账户ID跟请求地址中的账户ID不一致"), true
	}
	t, err := time.ParseInLocation(yuntongxun.TimeLayout, ts, s.loc)
	if err != nil || len(ts) != len(yuntongxun.TimeLayout) {
		return refuse(yuntongxun.CodeTimestampFormat, "请求包头Authorization参数中时间戳格式有误"), true
	}
	// "时间戳有效时间为24小时": older than 24 h is refused; a timestamp as
	// far in the future is refused too, as clock skew that large is a bug.
	if age := s.clock.Now().Sub(t); age > 24*time.Hour || age < -24*time.Hour {
		return refuse(yuntongxun.CodeTimestampExpired, "请求包头Authorization参数解码后时间戳过期"), true
	}
	sig := r.URL.Query().Get("sig")
	if sig == "" {
		return refuse(yuntongxun.CodeSigEmpty, "请求地址Sig参数为空"), true
	}
	// sig is checked against the Authorization timestamp, so a sig built
	// from another timestamp fails here: that is how "both timestamps must
	// be equal" shows.
	sum := md5.Sum([]byte(sid + s.cfg.AuthToken + ts))
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return refuse(yuntongxun.CodeSigMismatch, "请求地址Sig校验失败"), true
	}
	return answer{}, false
}

// parseRequest reads <Request><Appid>…</Appid><Command …/></Request>.
func parseRequest(body []byte) (app, name string, params attrs, a answer, bad bool) {
	var doc struct {
		XMLName xml.Name
		Nodes   []struct {
			XMLName xml.Name
			Attrs   []xml.Attr `xml:",any,attr"`
			Text    string     `xml:",chardata"`
			Kids    []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:",any"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&doc); err != nil {
		return "", "", nil, refuse(yuntongxun.CodeBadXML, "XML格式错误: "+err.Error()), true
	}
	// Nothing but whitespace and comments may follow the root element.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", nil, refuse(yuntongxun.CodeBadXML, "XML格式错误: "+err.Error()), true
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
			continue
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
		}
		return "", "", nil, refuse(yuntongxun.CodeBadXML, "XML格式错误: data after the root element"), true
	}
	if doc.XMLName.Local != "Request" {
		return "", "", nil, refuse(yuntongxun.CodeBadRequest, "根节点应为Request"), true
	}
	params = attrs{}
	for _, n := range doc.Nodes {
		if n.XMLName.Local == "Appid" {
			app = strings.TrimSpace(n.Text)
			continue
		}
		if name != "" {
			return "", "", nil, refuse(yuntongxun.CodeBadRequest, "多个命令节点"), true
		}
		name = n.XMLName.Local
		for _, k := range n.Kids {
			params[k.XMLName.Local] = strings.TrimSpace(k.Text)
		}
		for _, at := range n.Attrs {
			params[at.Name.Local] = at.Value
		}
	}
	if name == "" {
		return "", "", nil, refuse(yuntongxun.CodeBadRequest, "缺少命令节点"), true
	}
	return app, name, params, answer{}, false
}

// writeAnswer writes a as JSON when Accept asks for it, else XML, as the
// platform does.
func writeAnswer(w http.ResponseWriter, r *http.Request, a answer) {
	fields := append([]kv{{"statusCode", a.code}}, a.fields...)
	if a.msg != "" {
		fields = append(fields, kv{"statusMsg", a.msg})
	}
	if strings.Contains(strings.ToLower(r.Header.Get("Accept")), "json") {
		var b bytes.Buffer
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(f.k)
			v, _ := json.Marshal(f.v)
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Write(b.Bytes())
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	for _, f := range fields {
		b.WriteString("<" + f.k + ">")
		xml.EscapeText(&b, []byte(f.v))
		b.WriteString("</" + f.k + ">")
	}
	b.WriteString(`</Response>`)
	w.Header().Set("Content-Type", "application/xml;charset=utf-8")
	w.Write(b.Bytes())
}

// Commands; s.mu is held.

func (s *Sim) cmdCreate(r *http.Request, p attrs) answer {
	mm := p["maxmember"]
	if mm == "" {
		mm = r.URL.Query().Get("maxmember")
	}
	maxMember := 3 // the platform's documented default
	if mm != "" {
		n, err := strconv.Atoi(mm)
		if err != nil || n < 3 || n > 300 {
			return refuse(yuntongxun.CodeBadParam, "maxmember应为3到300")
		}
		maxMember = n
	}
	if v := p["confduration"]; v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return refuse(yuntongxun.CodeBadParam, "confduration有误")
		}
	}
	cf := s.createConf(maxMember, p)
	return ok(kv{"confid", cf.id}, kv{"voiptoconfid", cf.voip})
}

// conf finds the conference of a command.
func (s *Sim) conf(p attrs) (*conf, answer, bool) {
	id := p["confid"]
	if id == "" {
		return nil, refuse(yuntongxun.CodeBadParam, "confid为空"), false
	}
	cf := s.confs[id]
	if cf == nil {
		return nil, refuse(yuntongxun.CodeBadConfID, "会议Id错误"), false
	}
	return cf, answer{}, true
}

func (s *Sim) cmdInvite(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	var numbers []string
	for _, n := range strings.Split(p["number"], "#") {
		if n = strings.TrimSpace(n); n != "" {
			numbers = append(numbers, n)
		}
	}
	if len(numbers) == 0 {
		return refuse(yuntongxun.CodeBadParam, "number为空")
	}
	if cf.activeCount()+len(numbers) > cf.maxMember {
		return refuse(yuntongxun.CodeConfFull, "房间人数超过最大限制")
	}
	var first *call
	for _, n := range numbers {
		cl := s.invite(cf, n, p["action"], p["joinurl"])
		if first == nil {
			first = cl
		}
	}
	return ok(kv{"callSid", first.sid}, kv{"orderId", first.orderID})
}

func (s *Sim) cmdQuit(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	cl := cf.find(p["callid"])
	if cl == nil {
		return refuse(yuntongxun.CodeQuitFailed, "退出会议失败: callid不存在")
	}
	switch cl.state {
	case stateJoined:
		s.leave(cf, cl, p["action"])
	case stateRinging:
		// Removing someone still ringing cancels the invitation.
		s.fail(cf, cl, ResultCancelled)
	default:
		return refuse(yuntongxun.CodeQuitFailed, "退出会议失败: 成员已不在会议中")
	}
	return ok()
}

func (s *Sim) cmdDismiss(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	s.notify(cf.id, p["action"], "dismissed", kv{"confid", cf.id}, kv{"status", "0"})
	// The platform documents quiturl as "not sent if autohangup=true".
	s.endConf(cf, p["quiturl"], p["delurl"], p["autohangup"] == "true")
	return ok()
}

func (s *Sim) cmdQuery(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	return ok(kv{"state", "1"}, kv{"count", strconv.Itoa(cf.joinedCount())})
}

func (s *Sim) cmdMute(name string, p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	cl := cf.find(p["callid"])
	if cl == nil || cl.state != stateJoined {
		return refuse(yuntongxun.CodeMuteFailed, "会议静音失败: 成员不在会议中")
	}
	nt := notifyMute
	cl.muted = name == yuntongxun.CmdConfMute
	if !cl.muted {
		nt = notifyUnMute
	}
	s.media(cf, p["action"], cl.sid, nt, 0)
	return ok()
}

func (s *Sim) cmdPlay(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	if p["filename"] == "" {
		return refuse(yuntongxun.CodeBadParam, "filename为空")
	}
	loop := 1
	if v := p["loop"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return refuse(yuntongxun.CodeBadParam, "loop有误")
		}
		loop = n
	}
	if loop == 0 { // 0 = don't play
		return ok()
	}
	s.stop(cf.playTimer)
	cf.playing = true
	s.media(cf, p["action"], "", notifyPlay, mediaPlaying)
	if loop > 0 {
		done := p["playcompleteurl"]
		cf.playTimer = s.after(time.Duration(loop*PlaySecondsPerLoop)*time.Second, func() {
			cf.playing, cf.playTimer = false, nil
			s.media(cf, done, "", notifyPlay, mediaPlayDone)
		})
	}
	return ok()
}

func (s *Sim) cmdStopPlay(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	if !cf.playing {
		return refuse(yuntongxun.CodeConfAPIFailed, "当前没有放音")
	}
	s.stop(cf.playTimer)
	cf.playing, cf.playTimer = false, nil
	s.media(cf, p["action"], "", notifyStopPlay, mediaPlayDone)
	return ok()
}

func (s *Sim) cmdRecord(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	if cf.recording {
		return refuse(yuntongxun.CodeConfAPIFailed, "已在录音")
	}
	secs := 0
	if v := p["time"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return refuse(yuntongxun.CodeBadParam, "time有误")
		}
		secs = n
	}
	cf.recording, cf.recStart = true, s.now()
	cf.recN++
	s.media(cf, p["action"], "", notifyRecord, mediaRecording)
	if secs > 0 {
		done := p["timeoutrecordurl"]
		cf.recTimer = s.after(time.Duration(secs)*time.Second, func() {
			s.stopRecording(cf, done)
		})
	}
	return ok()
}

func (s *Sim) cmdStopRecord(p attrs) answer {
	cf, a, found := s.conf(p)
	if !found {
		return a
	}
	if !cf.recording {
		return refuse(yuntongxun.CodeConfAPIFailed, "当前没有录音")
	}
	s.stopRecording(cf, p["action"])
	return ok()
}

// stopRecording ends a recording and reports where it is, as the platform
// does with notifytype 12, state 12.
func (s *Sim) stopRecording(cf *conf, url string) {
	s.stop(cf.recTimer)
	cf.recTimer = nil
	cf.recording = false
	dur := int(s.now().Sub(cf.recStart) / time.Second)
	s.media(cf, url, "", notifyStopRecord, mediaRecordDone,
		kv{"recordduration", strconv.Itoa(dur)},
		kv{"recordurl", "http://ytxsim.invalid/records/" + cf.id + "-" + strconv.Itoa(cf.recN) + ".wav"})
}
