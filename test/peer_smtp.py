#!/usr/bin/python3
"""peer_smtp.py: a scriptable SMTP server (aiosmtpd) that the tests drive the
mta's SMTP client against, as a smarthost or an MX sink.

    peer_smtp.py --spool DIR [--addr A] [--port P] [options]

Prints "ready PORT" on stdout once listening (PORT is the real port, useful
with --port 0, the default). SIGTERM/SIGINT: close every connection (its
count-file line is written), exit 0. SIGUSR1: "heal": every injected fault
(--greeting-code --mail-reply --rcpt-reply --data-reply --drop-after-dot
--delay) is dropped for good, "healed N" (N = heals so far) is printed on
stdout, and the peer is a plain sink from then on.

Listening: --addr (default 127.0.0.1; IPv6 such as ::1 works), --port,
--hostname NAME (banner "220 NAME ESMTP peer_smtp" and first EHLO line;
default peer.test), --timeout SECS (idle, default 300).

EHLO offers, in order: PIPELINING, SIZE n, 8BITMIME, ENHANCEDSTATUSCODES,
DSN, SMTPUTF8, then STARTTLS (--starttls, not yet in TLS) and AUTH PLAIN
LOGIN (--auth, inside TLS or with --auth-plaintext).
  --no-pipelining           same as --no-ext PIPELINING
  --no-ext KW               (repeatable) do not offer KW (PIPELINING SIZE
                            8BITMIME ENHANCEDSTATUSCODES DSN SMTPUTF8
                            STARTTLS AUTH); its parameters (SIZE=, BODY=,
                            SMTPUTF8, RET= ENVID= NOTIFY= ORCPT=, AUTH=) then
                            get 555 5.5.4
  --ext KW                  (repeatable) offer one more keyword
  --no-esmtp                EHLO gets "502 5.5.1", HELO works (then any
                            MAIL/RCPT parameter gets 501)
  --max-size N              SIZE N offered and enforced (MAIL SIZE=: 552
                            5.3.4; data: 552); 0 = no SIZE; default 33554432
  --max-rcpts N             "452 4.5.3 Too many recipients" after N
  --max-line N              longest line (CRLF included) in commands and
                            data, default 1001; longer: 500
TLS:
  --starttls CERT KEY       offer STARTTLS with this PEM chain and key
  --implicit-tls CERT KEY   TLS from the first byte (port 465 style)
  --require-tls             530 for everything but EHLO/NOOP/QUIT/STARTTLS
                            before STARTTLS
  --tls-min 1.2|1.3, --tls-max 1.2|1.3
AUTH:
  --auth USER:PASS          (repeatable) AUTH PLAIN and LOGIN; offered and
                            accepted only inside TLS (else 530/538) unless
                            --auth-plaintext; bad credentials: 535 5.7.8;
                            without --auth the AUTH command is unknown (500)
  --auth-plaintext
  --require-auth            530 5.7.0 for MAIL/RCPT/DATA before AUTH
Injected replies (CODE alone gets a default text; 421 always closes the
connection after the reply; quoting optional: --data-reply 451 4.3.0 later):
  --greeting-code CODE [TEXT]   refuse at connect; 421 closes at once, any
                            other code (554) answers 503 until QUIT
  --mail-reply CODE [TEXT]  answer MAIL so (a 2xx accepts it)
  --rcpt-reply PATTERN=CODE [TEXT]  (repeatable, first match wins) answer
                            RCPT of an address containing PATTERN so
  --data-reply CODE [TEXT]  answer the final dot so; a 2xx records the
                            message, anything else records nothing
  --drop-after-dot          read the data, record the message (with
                            "dropped": true), close without any reply
  --faults N                each of the above fires only its first N times
                            (counted per option, per --rcpt-reply pattern,
                            over all connections); then normal behaviour
  --delay PHASE=SECS        (repeatable) wait before answering: greeting
                            ehlo helo starttls auth mail rcpt data (the 354)
                            dot (the final reply) rset quit
Records:
  --spool DIR               the messages (see below); created if missing
  --count-file F            one line per connection, appended when it sends
                            QUIT (before the 221) or ends otherwise:
      conn=N peer=IP helo=NAME|- esmtp=yes|no|- tls=TLSv1.2|TLSv1.3|no
      auth=USER|- msgs=N quit=yes|no cmds=EHLO,STARTTLS,EHLO,AUTH:PLAIN,...
                            (msgs counts final dots, whatever the reply)
  --log F                   event log (aiosmtpd's own log lines included)

Every message answered 2xx at the final dot (or dropped by
--drop-after-dot) becomes one file DIR/msg-NNNNNN (NNNNNN = arrival order
from 000001, also in the reply "250 2.0.0 Ok: queued as msg-NNNNNN"),
written as DIR/.tmp-NNNNNN and renamed before the reply is sent: one line
of JSON, an empty line, then the message bytes exactly as received after
dot-unstuffing (CRLF line ends as sent, without the final ".\r\n"). JSON:
  mail_from        the reverse path without <>, "" for the null sender
  rcpt_tos         accepted recipients, in order, without <>
  mail_params      {"SIZE": "123", "BODY": "8BITMIME", "RET": "HDRS",
                   "ENVID": "x", "SMTPUTF8": true, "AUTH": "<>"}: keys upper
                   case, values exactly as sent
  rcpt_params      a dict per accepted recipient: {"NOTIFY": "...",
                   "ORCPT": "rfc822;..."}
  rejected_rcpts   [{"rcpt": "a@b", "reply": "550 5.1.1 ..."}] this transaction
  helo             the last EHLO/HELO name; esmtp: true after EHLO
  tls, tls_mode    true/false, "starttls"/"implicit"/null
  tls_version, tls_cipher   e.g. "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"
  auth_user, auth_mech      e.g. "user", "PLAIN" (null without AUTH)
  commands         every command line of the connection so far, by verb
                   (AUTH as "AUTH:PLAIN"), refused ones included, e.g.
                   ["EHLO","STARTTLS","EHLO","AUTH:PLAIN","MAIL","RCPT",
                   "DATA","RSET","MAIL","RCPT","DATA"]
  pipelined        more input was already waiting when MAIL or a RCPT of
                   this transaction was read (the client pipelined)
  peer             client IP; conn: connection number (1, 2, ...);
  msg_in_conn      1 for the first final dot of the connection, ...
  seq, size, time  the NNNNNN, the byte count, arrival (epoch)
  dropped, reply   true for --drop-after-dot (reply null), else the reply
"""

import argparse
import asyncio
import collections
import json
import logging
import os
import re
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

DEFAULT_TEXT = {
	"421": "4.3.2 Service not available, closing transmission channel",
	"450": "4.2.0 Mailbox unavailable, try again later",
	"451": "4.3.0 Local error in processing",
	"452": "4.3.1 Insufficient system storage",
	"550": "5.1.1 Mailbox unavailable",
	"552": "5.3.4 Message too big",
	"554": "5.7.1 Transaction failed",
}

# EHLO keywords offered by default, in this order (AUTH and STARTTLS are added
# when configured and appropriate).
DEFAULT_EXTS = ["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
    "DSN", "SMTPUTF8"]

log = logging.getLogger("peer_smtp")


def reply_text(spec, what):
	"""'451' or '451 4.3.0 text' or ['451', '4.3.0', 'text'] -> full reply."""
	if isinstance(spec, list):
		spec = " ".join(spec)
	spec = spec.strip()
	m = re.match(r"^([2-5][0-9][0-9])(?:[ -](.*))?$", spec)
	if m is None:
		raise argparse.ArgumentTypeError(
		    "%s: want CODE [TEXT], e.g. '451 4.3.0 try later': %r" % (what, spec))
	code, text = m.group(1), m.group(2)
	if not text:
		text = DEFAULT_TEXT.get(code, "%s.0.0 injected reply" % code[0])
	return code + " " + text


class Peer:
	"""State shared by every connection."""

	def __init__(self, args):
		self.args = args
		self.seq = 0
		self.conns = 0
		self.heals = 0
		self.used = {}
		self.active = set()
		self.users = {}
		for a in args.auth or []:
			u, sep, p = a.partition(":")
			if not sep:
				sys.exit("peer_smtp: --auth wants USER:PASS")
			self.users[u] = p
		self.greeting = reply_text(args.greeting_code, "--greeting-code") \
		    if args.greeting_code else None
		self.mail_reply = reply_text(args.mail_reply, "--mail-reply") \
		    if args.mail_reply else None
		self.data_reply = reply_text(args.data_reply, "--data-reply") \
		    if args.data_reply else None
		self.rcpt_replies = []
		for r in args.rcpt_reply or []:
			r = " ".join(r)
			pat, sep, rest = r.partition("=")
			if not sep or not pat:
				sys.exit("peer_smtp: --rcpt-reply wants PATTERN=CODE TEXT")
			self.rcpt_replies.append((pat, reply_text(rest, "--rcpt-reply")))
		self.delays = {}
		for d in args.delay or []:
			k, sep, v = d.partition("=")
			k = k.lower()
			if not sep or k not in ("greeting", "ehlo", "helo", "starttls",
			    "auth", "mail", "rcpt", "data", "dot", "rset", "quit"):
				sys.exit("peer_smtp: --delay wants PHASE=SECONDS, PHASE one of "
				    "greeting ehlo helo starttls auth mail rcpt data dot rset quit")
			self.delays[k] = float(v)
		exts = list(DEFAULT_EXTS)
		if args.no_pipelining:
			exts.remove("PIPELINING")
		for e in args.ext or []:
			if e.upper() not in exts:
				exts.append(e.upper())
		drop = set(e.upper() for e in (args.no_ext or []))
		self.exts = [e for e in exts if e.split()[0] not in drop]
		self.no_ext = drop

	def fault(self, kind):
		"""May the injected fault `kind` fire now? Counts it when it does."""
		if self.heals > 0:
			return False
		if self.args.faults is None:
			return True
		n = self.used.get(kind, 0)
		if n >= self.args.faults:
			return False
		self.used[kind] = n + 1
		return True

	def delay(self, phase):
		if self.heals > 0:
			return 0
		return self.delays.get(phase, 0)

	def heal(self):
		self.heals += 1
		print("healed %d" % self.heals, flush=True)
		log.info("healed %d", self.heals)


class Tx:
	"""One mail transaction (MAIL ... final dot / RSET)."""

	def __init__(self):
		self.mail_from = None
		self.mail_params = {}
		self.rcpt_params = []
		self.rejected = []
		self.pipelined = False


def parse_params(tokens):
	"""['SIZE=10', 'SMTPUTF8'] -> {'SIZE': '10', 'SMTPUTF8': True} (keys
	upper case, values as sent), or None on a syntax error."""
	out = {}
	for t in tokens:
		k, eq, v = t.partition("=")
		if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", k) or (eq and not v):
			return None
		out[k.upper()] = v if eq else True
	return out


def parse_path(arg, keyword):
	"""'FROM:<a@b> SIZE=1' -> ('a@b', ['SIZE=1']); None on a syntax error."""
	if arg is None or arg[:len(keyword)].upper() != keyword:
		return None
	rest = arg[len(keyword):]
	m = re.match(r"^\s*<([^<>]*)>(.*)$", rest)
	if m is None:
		m = re.match(r"^\s*([^\s<>]+)(.*)$", rest)
	if m is None:
		return None
	return m.group(1), m.group(2).split()


class Handler:
	"""aiosmtpd hooks; the work is done by the PeerSMTP instance."""

	async def handle_EHLO(self, server, session, envelope, hostname, responses):
		session.host_name = hostname
		return server.ehlo_lines()

	async def handle_DATA(self, server, session, envelope):
		return await server.end_of_data(envelope)

	async def handle_QUIT(self, server, session, envelope):
		server.write_conn_line(quit=True)
		return "221 2.0.0 Bye"

	async def handle_RSET(self, server, session, envelope):
		return "250 2.0.0 Ok"

	async def handle_NOOP(self, server, session, envelope, arg):
		return "250 2.0.0 Ok"

	async def handle_exception(self, error):
		if not isinstance(error, (ConnectionError, ssl.SSLError)) and \
		    type(error).__name__ != "TLSSetupException":
			log.error("internal error: %r", error, exc_info=error)
			print("peer_smtp: internal error: %r" % (error,), file=sys.stderr,
			    flush=True)
		return "451 4.3.0 peer_smtp internal error"


class PeerSMTP(SMTP):
	AuthLoginUsernameChallenge = "Username:"
	AuthLoginPasswordChallenge = "Password:"

	def __init__(self, peer, tls_mode, **kw):
		self.peer = peer
		self.args = peer.args
		self.line_length_limit = self.args.max_line
		self.tls_mode = tls_mode
		self.cmds = []
		self.helo_name = None
		self.esmtp = None
		self.login_user = None
		self.login_mech = None
		self.nmsgs = 0
		self.conn_no = 0
		self.dropping = False
		self.close_after_reply = False
		self.conn_line_written = False
		self.implicit = False
		self.in_challenge = False
		self.tx = Tx()
		super().__init__(Handler(), **kw)
		# aiosmtpd keeps the command length limits in a dict shared by
		# every connection (and clears it for each new one): give each its
		# own, as long as a line may be (ORCPT/ENVID/AUTH= make MAIL and
		# RCPT longer than RFC 5321's 512)
		limit = max(512, self.args.max_line)
		self.command_size_limit = limit
		self.command_size_limits = collections.defaultdict(lambda: limit)
		if not peer.users:
			self._smtp_methods.pop("AUTH", None)
		for name, method in list(self._smtp_methods.items()):
			self._smtp_methods[name] = self._wrap(name, method)

	# -- plumbing ------------------------------------------------------

	def _wrap(self, name, method):
		async def wrapper(arg):
			d = self.peer.delay(name.lower())
			if d:
				await asyncio.sleep(d)
			await method(arg)
		return wrapper

	def _client_connected_cb(self, reader, writer):
		super()._client_connected_cb(reader, writer)
		orig = reader.readuntil

		async def readuntil(separator=b"\n"):
			line = await orig(separator)
			if separator == b"\n":
				self.command_line(line)
			return line
		# aiosmtpd reads commands with readuntil() and DATA lines with
		# readuntil(b"\r\n"): record every command line, even those that
		# it refuses before dispatching (unknown, 530 before STARTTLS)
		reader.readuntil = readuntil

	async def challenge_auth(self, *a, **kw):
		# the answers to AUTH challenges are not commands
		self.in_challenge = True
		try:
			return await super().challenge_auth(*a, **kw)
		finally:
			self.in_challenge = False

	def command_line(self, line):
		words = line.strip().split()
		if not words or self.in_challenge:
			return
		verb = words[0].upper().decode("ascii", "replace")
		if verb == "AUTH" and len(words) > 1:
			verb = "AUTH:" + words[1].upper().decode("ascii", "replace")
		self.cmds.append(verb)
		if verb in ("MAIL", "RCPT") and len(self._reader._buffer) > 0:
			# more input already waiting before our reply: pipelined
			self.tx.pipelined = True

	def connection_made(self, transport):
		first = self.transport is None
		super().connection_made(transport)
		if first:
			self.peer.conns += 1
			self.conn_no = self.peer.conns
			self.peer.active.add(self)
			if transport.get_extra_info("ssl_object") is not None:
				# implicit TLS: count as "in TLS" for AUTH and STARTTLS
				self.implicit = True
				self._tls_protocol = transport
			log.info("conn %d from %r", self.conn_no, self.session.peer)

	def connection_lost(self, error):
		self.write_conn_line(quit=False)
		self.peer.active.discard(self)
		try:
			super().connection_lost(error)
		except Exception:
			pass

	def eof_received(self):
		try:
			return super().eof_received()
		except Exception:
			return False

	def _set_post_data_state(self):
		super()._set_post_data_state()
		self.tx = Tx()

	async def push(self, status):
		if self.dropping or self.transport is None:
			return
		try:
			await super().push(status)
		except (ConnectionError, RuntimeError):
			return
		if self.close_after_reply:
			self.close_after_reply = False
			self.transport.close()

	async def _handle_client(self):
		try:
			d = self.peer.delay("greeting")
			if d:
				await asyncio.sleep(d)
			if self.peer.greeting and self.peer.fault("greeting"):
				self.cmds.append("GREETING:" + self.peer.greeting[:3])
				await self.refuse(self.peer.greeting)
				return
			await super()._handle_client()
		except (asyncio.CancelledError, ConnectionError, ssl.SSLError,
		    asyncio.IncompleteReadError):
			pass
		except Exception as e:
			if type(e).__name__ != "TLSSetupException":
				log.error("session error: %r", e, exc_info=e)
				print("peer_smtp: session error: %r" % (e,), file=sys.stderr,
				    flush=True)
			if self.transport is not None:
				self.transport.abort()

	async def refuse(self, reply):
		"""Refusing greeting: 421 closes at once; other codes (554) answer
		503 to everything until QUIT (RFC 5321 3.1)."""
		if reply.startswith("421"):
			self.close_after_reply = True
			await self.push(reply)
			return
		await self.push(reply)
		while self.transport is not None:
			line = await self._reader.readline()
			if not line:
				break
			verb = line.strip().split(b" ")[0].upper()
			if verb == b"QUIT":
				self.write_conn_line(quit=True)
				self.close_after_reply = True
				await self.push("221 2.0.0 Bye")
				return
			await self.push("503 5.5.1 No service here")
		if self.transport is not None:
			self.transport.close()

	def tls_object(self):
		try:
			return self.transport.get_extra_info("ssl_object")
		except Exception:
			# None, or an SSL transport already torn down
			return None

	def write_conn_line(self, quit):
		if self.conn_line_written or self.conn_no == 0:
			return
		self.conn_line_written = True
		so = self.tls_object()
		log.info("conn %d end: %s", self.conn_no, ",".join(self.cmds))
		if not self.args.count_file:
			return
		helo = re.sub(r"\s", "_", self.helo_name) if self.helo_name else "-"
		peer = self.session.peer[0] if self.session and self.session.peer else "-"
		line = "conn=%d peer=%s helo=%s esmtp=%s tls=%s auth=%s msgs=%d quit=%s cmds=%s\n" % (
		    self.conn_no, peer, helo,
		    "-" if self.esmtp is None else ("yes" if self.esmtp else "no"),
		    so.version() if so is not None else "no",
		    self.login_user or "-", self.nmsgs, "yes" if quit else "no",
		    ",".join(self.cmds) or "-")
		with open(self.args.count_file, "a") as f:
			f.write(line)

	# -- EHLO / HELO ---------------------------------------------------

	def current_exts(self):
		exts = []
		in_tls = bool(self._tls_protocol)
		for e in self.peer.exts:
			if e == "SIZE":
				if self.data_size_limit:
					exts.append("SIZE %d" % self.data_size_limit)
				continue
			exts.append(e)
		if self.tls_context and not in_tls and "STARTTLS" not in self.peer.no_ext:
			exts.append("STARTTLS")
		if self.peer.users and "AUTH" not in self.peer.no_ext and \
		    (in_tls or self.args.auth_plaintext):
			exts.append("AUTH PLAIN LOGIN")
		return exts

	def offered(self, kw):
		return any(e.split()[0] == kw for e in self.current_exts())

	def ehlo_lines(self):
		lines = [self.hostname] + self.current_exts()
		return ["250-" + x for x in lines[:-1]] + ["250 " + lines[-1]]

	async def smtp_EHLO(self, hostname):
		if self.args.no_esmtp:
			await self.push("502 5.5.1 EHLO not supported, use HELO")
			return
		if hostname:
			self.helo_name = hostname
			self.esmtp = True
		await super().smtp_EHLO(hostname)

	async def smtp_HELO(self, hostname):
		if hostname:
			self.helo_name = hostname
			self.esmtp = False
		await super().smtp_HELO(hostname)

	# -- MAIL / RCPT ---------------------------------------------------

	async def check_params(self, params, allowed):
		"""allowed: {PARAM: EHLO keyword}. Reply and return False when a
		parameter is unknown or its extension was not offered."""
		if params and not self.session.extended_smtp:
			await self.push("501 5.5.4 No parameters allowed after HELO")
			return False
		for k in params:
			kw = allowed.get(k)
			if kw is None or not self.offered(kw):
				await self.push("555 5.5.4 %s parameter not supported" % k)
				return False
		return True

	async def smtp_MAIL(self, arg):
		if await self.check_helo_needed():
			return
		if await self.check_auth_needed("MAIL"):
			return
		if self.tx.mail_from is not None:
			await self.push("503 5.5.1 Error: nested MAIL command")
			return
		p = parse_path(arg, "FROM:")
		params = parse_params(p[1]) if p is not None else None
		if params is None:
			await self.push("501 5.5.4 Syntax: MAIL FROM:<address> [parameters]")
			return
		address = p[0]
		if not await self.check_params(params, {"SIZE": "SIZE",
		    "BODY": "8BITMIME", "SMTPUTF8": "SMTPUTF8", "RET": "DSN",
		    "ENVID": "DSN", "AUTH": "AUTH"}):
			return
		size = params.get("SIZE")
		if size is not None:
			if size is True or not size.isdigit():
				await self.push("501 5.5.4 Bad SIZE parameter")
				return
			if self.data_size_limit and int(size) > self.data_size_limit:
				await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
				return
		body = params.get("BODY")
		if body is not None and (body is True or
		    body.upper() not in ("7BIT", "8BITMIME")):
			await self.push("501 5.5.4 BODY can only be 7BIT or 8BITMIME")
			return
		ret = params.get("RET")
		if ret is not None and (ret is True or ret.upper() not in ("FULL", "HDRS")):
			await self.push("501 5.5.4 RET can only be FULL or HDRS")
			return
		if params.get("SMTPUTF8", True) is not True:
			await self.push("501 5.5.4 SMTPUTF8 takes no value")
			return
		if self.peer.mail_reply and self.peer.fault("mail"):
			r = self.peer.mail_reply
			if r.startswith("2"):
				self.tx.mail_from = address
				self.tx.mail_params = params
				self.envelope.mail_from = address
			elif r.startswith("421"):
				self.close_after_reply = True
			await self.push(r)
			return
		self.tx.mail_from = address
		self.tx.mail_params = params
		self.envelope.mail_from = address
		self.envelope.mail_options.extend(p[1])
		await self.push("250 2.1.0 Ok")

	async def smtp_RCPT(self, arg):
		if await self.check_helo_needed():
			return
		if await self.check_auth_needed("RCPT"):
			return
		if self.tx.mail_from is None:
			await self.push("503 5.5.1 Error: need MAIL command")
			return
		p = parse_path(arg, "TO:")
		params = parse_params(p[1]) if p is not None else None
		if params is None or p[0] == "":
			await self.push("501 5.5.4 Syntax: RCPT TO:<address> [parameters]")
			return
		address = p[0]
		if not await self.check_params(params, {"NOTIFY": "DSN", "ORCPT": "DSN"}):
			return
		notify = params.get("NOTIFY")
		if notify is not None:
			words = notify.upper().split(",") if notify is not True else [""]
			if not (words == ["NEVER"] or (words and all(w in
			    ("SUCCESS", "FAILURE", "DELAY") for w in words))):
				await self.push("501 5.5.4 Bad NOTIFY parameter")
				return
		orcpt = params.get("ORCPT")
		if orcpt is not None and (orcpt is True or ";" not in orcpt):
			await self.push("501 5.5.4 Bad ORCPT parameter")
			return
		if self.args.max_rcpts and len(self.envelope.rcpt_tos) >= self.args.max_rcpts:
			self.tx.rejected.append({"rcpt": address, "reply": "452 4.5.3 Too many recipients"})
			await self.push("452 4.5.3 Too many recipients")
			return
		r = "250 2.1.5 Ok"
		for pat, reply in self.peer.rcpt_replies:
			if pat in address and self.peer.fault("rcpt " + pat):
				if reply.startswith("2"):
					r = reply
					break
				self.tx.rejected.append({"rcpt": address, "reply": reply})
				if reply.startswith("421"):
					self.close_after_reply = True
				await self.push(reply)
				return
		self.envelope.rcpt_tos.append(address)
		self.envelope.rcpt_options.extend(p[1])
		self.tx.rcpt_params.append(params)
		await self.push(r)

	# -- DATA ----------------------------------------------------------

	async def smtp_DATA(self, arg):
		if self.tx.mail_from is not None and not self.envelope.rcpt_tos:
			# RFC 2920 3.1: no valid recipients
			await self.push("554 5.5.1 Error: no valid recipients")
			return
		await super().smtp_DATA(arg)

	async def end_of_data(self, envelope):
		d = self.peer.delay("dot")
		if d:
			await asyncio.sleep(d)
		self.nmsgs += 1
		if self.args.drop_after_dot and self.peer.fault("drop"):
			self.record(envelope, dropped=True, reply=None)
			self.dropping = True
			self.cmds.append("DROPPED")
			if self.transport is not None:
				self.transport.abort()
			return "250 never sent"
		if self.peer.data_reply and self.peer.fault("data"):
			r = self.peer.data_reply
			if r.startswith("2"):
				self.record(envelope, dropped=False, reply=r)
			elif r.startswith("421"):
				self.close_after_reply = True
			return r
		name = self.record(envelope, dropped=False, reply=None)
		return "250 2.0.0 Ok: queued as " + name

	def record(self, envelope, dropped, reply):
		self.peer.seq += 1
		seq = self.peer.seq
		name = "msg-%06d" % seq
		if reply is None and not dropped:
			reply = "250 2.0.0 Ok: queued as " + name
		so = self.tls_object()
		cipher = so.cipher() if so is not None else None
		peer = self.session.peer if self.session and self.session.peer else None
		env = {
			"mail_from": self.tx.mail_from,
			"rcpt_tos": list(envelope.rcpt_tos),
			"mail_params": self.tx.mail_params,
			"rcpt_params": self.tx.rcpt_params,
			"rejected_rcpts": self.tx.rejected,
			"helo": self.helo_name,
			"esmtp": bool(self.esmtp),
			"tls": so is not None,
			"tls_mode": ("implicit" if self.implicit else "starttls") if so is not None else None,
			"tls_version": so.version() if so is not None else None,
			"tls_cipher": cipher[0] if cipher else None,
			"auth_user": self.login_user,
			"auth_mech": self.login_mech,
			"commands": list(self.cmds),
			"pipelined": self.tx.pipelined,
			"peer": peer[0] if peer else None,
			"conn": self.conn_no,
			"msg_in_conn": self.nmsgs,
			"seq": seq,
			"size": len(envelope.original_content),
			"dropped": dropped,
			"reply": None if dropped else reply,
			"time": time.time(),
		}
		d = self.args.spool
		tmp = os.path.join(d, ".tmp-%06d" % seq)
		with open(tmp, "wb") as f:
			f.write(json.dumps(env).encode("ascii") + b"\n\n")
			f.write(envelope.original_content)
		os.rename(tmp, os.path.join(d, name))
		log.info("conn %d: %s from=<%s> to=%s size=%d%s", self.conn_no, name,
		    self.tx.mail_from, ",".join(envelope.rcpt_tos),
		    len(envelope.original_content), " (dropped)" if dropped else "")
		return name


def authenticator(server, session, envelope, mechanism, auth_data):
	try:
		user = auth_data.login.decode("utf-8")
		pw = auth_data.password.decode("utf-8")
	except (AttributeError, UnicodeDecodeError):
		return AuthResult(success=False, handled=False)
	if server.peer.users.get(user) == pw:
		server.login_user = user
		server.login_mech = mechanism
		return AuthResult(success=True, auth_data=auth_data)
	log.info("conn %d: AUTH %s failed for %r", server.conn_no, mechanism, user)
	return AuthResult(success=False, handled=False,
	    message="535 5.7.8 Authentication credentials invalid")


def tls_context(cert, key, args):
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain(cert, key)
	versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
	if args.tls_min:
		ctx.minimum_version = versions[args.tls_min]
	if args.tls_max:
		ctx.maximum_version = versions[args.tls_max]
	return ctx


def parse_args(argv):
	ap = argparse.ArgumentParser(prog="peer_smtp.py",
	    description="SMTP peer (smarthost / MX sink) for the mta tests")
	ap.add_argument("--addr", default="127.0.0.1", help="listen address (IPv4 or IPv6)")
	ap.add_argument("--port", type=int, default=0, help="listen port (0: any free one)")
	ap.add_argument("--spool", required=True, help="directory receiving the messages")
	ap.add_argument("--hostname", default="peer.test", help="name in banner and EHLO reply")
	ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
	ap.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
	ap.add_argument("--tls-min", choices=["1.2", "1.3"])
	ap.add_argument("--tls-max", choices=["1.2", "1.3"])
	ap.add_argument("--require-tls", action="store_true",
	    help="530 for MAIL etc. before STARTTLS")
	ap.add_argument("--auth", action="append", metavar="USER:PASS",
	    help="offer AUTH PLAIN LOGIN (inside TLS); repeatable")
	ap.add_argument("--auth-plaintext", action="store_true",
	    help="offer and accept AUTH outside TLS too")
	ap.add_argument("--require-auth", action="store_true",
	    help="530 5.7.0 for MAIL/RCPT/DATA before AUTH")
	ap.add_argument("--greeting-code", nargs="+", metavar="CODE",
	    help="refuse at connect: 421 closes, other codes wait for QUIT")
	ap.add_argument("--mail-reply", nargs="+", metavar="CODE", help="reply to MAIL")
	ap.add_argument("--rcpt-reply", nargs="+", action="append", metavar="PATTERN=CODE",
	    help="reply to RCPT of an address containing PATTERN; repeatable")
	ap.add_argument("--data-reply", nargs="+", metavar="CODE",
	    help="reply to the final dot (a 2xx still records the message)")
	ap.add_argument("--drop-after-dot", action="store_true",
	    help="record the message, then close without replying")
	ap.add_argument("--faults", type=int, metavar="N",
	    help="each injected fault fires only its first N times")
	ap.add_argument("--delay", action="append", metavar="PHASE=SECS",
	    help="wait before replying in PHASE (greeting ehlo helo starttls auth "
	    "mail rcpt data dot rset quit)")
	ap.add_argument("--no-pipelining", action="store_true")
	ap.add_argument("--no-esmtp", action="store_true", help="EHLO -> 502")
	ap.add_argument("--no-ext", action="append", metavar="KEYWORD",
	    help="do not offer this EHLO keyword (PIPELINING SIZE 8BITMIME "
	    "ENHANCEDSTATUSCODES DSN SMTPUTF8 STARTTLS AUTH); its parameters "
	    "are then refused with 555")
	ap.add_argument("--ext", action="append", metavar="KEYWORD",
	    help="offer this extra EHLO keyword")
	ap.add_argument("--max-size", type=int, default=2 ** 25,
	    help="SIZE advertised and enforced (0: none)")
	ap.add_argument("--max-rcpts", type=int, default=0,
	    help="452 4.5.3 after N recipients in a transaction")
	ap.add_argument("--max-line", type=int, default=1001,
	    help="longest line accepted, CRLF included (RFC 5321: 1001 with a stuffed dot)")
	ap.add_argument("--timeout", type=float, default=300, help="idle timeout, seconds")
	ap.add_argument("--count-file", metavar="F", help="one line per connection")
	ap.add_argument("--log", metavar="F", help="event log")
	args = ap.parse_args(argv)
	if args.starttls and args.implicit_tls:
		ap.error("--starttls and --implicit-tls exclude each other")
	if args.require_tls and not args.starttls and not args.implicit_tls:
		ap.error("--require-tls needs --starttls")
	return args


def main(argv):
	args = parse_args(argv)
	if args.log:
		h = logging.FileHandler(args.log)
		h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
		level = logging.INFO
	else:
		h = logging.StreamHandler(sys.stderr)
		h.setFormatter(logging.Formatter("peer_smtp: %(name)s %(message)s"))
		level = logging.WARNING
	for name in ("peer_smtp", "mail.log", "asyncio"):
		lg = logging.getLogger(name)
		lg.addHandler(h)
		# without --log, aiosmtpd's chatter (deprecation notes) is not wanted
		lg.setLevel(level if args.log or name == "peer_smtp" else logging.ERROR)
		lg.propagate = False
	warnings.filterwarnings("ignore", module="aiosmtpd")
	warnings.filterwarnings("ignore", message=".*AUTH.*TLS")
	os.makedirs(args.spool, exist_ok=True)
	peer = Peer(args)
	asyncio.run(serve(peer))
	return 0


def exception_handler(loop, context):
	exc = context.get("exception")
	msg = context.get("message", "")
	if exc is None or isinstance(exc, (ConnectionError, ssl.SSLError, OSError,
	    asyncio.CancelledError)) or "handshake" in msg.lower():
		log.info("loop: %s %r", msg, exc)
		return
	loop.default_exception_handler(context)


async def serve(peer):
	args = peer.args
	loop = asyncio.get_running_loop()
	loop.set_exception_handler(exception_handler)
	starttls_ctx = tls_context(*args.starttls, args) if args.starttls else None
	implicit_ctx = tls_context(*args.implicit_tls, args) if args.implicit_tls else None

	def factory():
		return PeerSMTP(peer, "implicit" if implicit_ctx else None,
		    hostname=args.hostname, ident="ESMTP peer_smtp",
		    data_size_limit=args.max_size or None,
		    enable_SMTPUTF8="SMTPUTF8" in peer.exts,
		    tls_context=starttls_ctx,
		    require_starttls=args.require_tls and starttls_ctx is not None,
		    timeout=args.timeout,
		    auth_require_tls=not args.auth_plaintext,
		    auth_required=args.require_auth,
		    authenticator=authenticator,
		    loop=loop)

	server = await loop.create_server(factory, host=args.addr, port=args.port,
	    ssl=implicit_ctx, reuse_address=True)
	port = server.sockets[0].getsockname()[1]
	stop = asyncio.Event()
	loop.add_signal_handler(signal.SIGTERM, stop.set)
	loop.add_signal_handler(signal.SIGINT, stop.set)
	loop.add_signal_handler(signal.SIGUSR1, peer.heal)
	log.info("listening on %s port %d", args.addr, port)
	print("ready %d" % port, flush=True)
	await stop.wait()
	server.close()
	for p in list(peer.active):
		if p.transport is not None:
			p.transport.abort()
	for _ in range(5):
		await asyncio.sleep(0)
	log.info("stopped")


if __name__ == "__main__":
	try:
		sys.exit(main(sys.argv[1:]))
	except KeyboardInterrupt:
		sys.exit(0)
