#!/usr/bin/python3
"""peer_dns.py: a tiny scriptable DNS server (dnslib) for the mta tests.

    peer_dns.py --port P --zone FILE [--addr 127.0.0.1] [--log F] [--no-chase]

Listens on UDP and TCP on the same port (--port 0: a free one) and prints
"ready PORT" on stdout. SIGTERM/SIGINT: exit 0. The zone file is re-read
whenever its mtime, size or inode changes (checked on every query), so a
test may edit or replace it mid-test.

Zone file: one record per line, "#" starts a comment, names are
case-insensitive, a trailing dot is optional, an optional TTL may follow
the name (default 300):

    example.org        MX 10 mx1.example.org
    nullmx.example     MX 0 .
    mx1.example.org    A 127.0.0.2
    mx1.example.org    AAAA ::1
    alias.example.org  CNAME real.example.org
    txt.example        TXT some text
    (also NS and PTR)

Behaviours, for the whole name or for one type ("NAME TYPE BEHAVIOUR"):

    broken.example     SERVFAIL      rcode SERVFAIL
    refused.example    REFUSED       rcode REFUSED
    gone.example       NXDOMAIN      rcode NXDOMAIN even if records exist
    slow.example       TIMEOUT       never answer (UDP or TCP)
    big.example        TRUNCATE      over UDP: TC=1 and no answer; over TCP:
                                     the full answer (give the records too)
    flaky.example      DROP 2        ignore the first 2 queries for the name
                                     (counted per name+type), then answer
    lag.example        DELAY 1.5     answer after 1.5 s
    spoof.example      BADID         first send a copy of the answer with a
                                     wrong ID, then the right answer
    bad.example        GARBAGE       answer only with a packet whose question
                                     name is a compression pointer to itself
    mx1.example.org AAAA SERVFAIL    (per type: SERVFAIL REFUSED NXDOMAIN
                                     TIMEOUT TRUNCATE DROP DELAY BADID GARBAGE)

Answers: records of the asked type; a CNAME is followed inside the zone
(the chain and the target's records in the answer, rcode of the last name,
RFC 6604) unless --no-chase (then only the CNAME). A name with records but
none of the type: NOERROR, empty answer. Unknown names: NXDOMAIN. A UDP
answer longer than 512 bytes (or the EDNS size the query gives) is sent
truncated (TC=1), like a real server.

--log F: one line per query, "name TYPE udp|tcp RESULT" (name lower case,
no trailing dot; RESULT: NOERROR NXDOMAIN SERVFAIL REFUSED TIMEOUT TC DROP
BADID GARBAGE FORMERR), e.g. "big.example MX udp TC".
"""

import argparse
import asyncio
import os
import signal
import struct
import sys

from dnslib import (A, AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, TXT,
    DNSHeader, DNSRecord)

BEHAVIOURS = ("SERVFAIL", "REFUSED", "NXDOMAIN", "TIMEOUT", "TRUNCATE",
    "DROP", "DELAY", "BADID", "GARBAGE")
RTYPES = ("A", "AAAA", "MX", "CNAME", "TXT", "NS", "PTR")


def norm(name):
	name = str(name).lower()
	if name.endswith(".") and name != ".":
		name = name[:-1]
	return name


class Zone:
	def __init__(self, path):
		self.path = path
		self.key = None
		self.records = {}	# name -> [(type, ttl, rdata)]
		self.behave = {}	# (name, type or "*") -> (WORD, arg)
		self.counts = {}	# DROP counters

	def refresh(self):
		try:
			st = os.stat(self.path)
			key = (st.st_mtime_ns, st.st_size, st.st_ino)
		except OSError as e:
			key = None
			if self.key != key:
				print("peer_dns: %s: %s" % (self.path, e), file=sys.stderr, flush=True)
		if key == self.key:
			return
		self.key = key
		self.records = {}
		self.behave = {}
		if key is None:
			return
		with open(self.path, encoding="utf-8", errors="replace") as f:
			for n, line in enumerate(f, 1):
				try:
					self.parse(line)
				except (ValueError, IndexError) as e:
					print("peer_dns: %s:%d: %s: %r" % (self.path, n, e, line.rstrip()),
					    file=sys.stderr, flush=True)

	def parse(self, line):
		t = line.split("#", 1)[0].split()
		if not t:
			return
		name = norm(t[0])
		rest = t[1:]
		ttl = 300
		if rest and rest[0].isdigit():
			ttl = int(rest[0])
			rest = rest[1:]
		if not rest:
			raise ValueError("no type")
		word = rest[0].upper()
		if word in BEHAVIOURS:
			self.behave[(name, "*")] = (word, rest[1] if len(rest) > 1 else None)
			self.records.setdefault(name, [])
			return
		if word not in RTYPES:
			raise ValueError("unknown type " + word)
		if len(rest) > 1 and rest[1].upper() in BEHAVIOURS:
			self.behave[(name, word)] = (rest[1].upper(),
			    rest[2] if len(rest) > 2 else None)
			self.records.setdefault(name, [])
			return
		if word == "A":
			rdata = A(rest[1])
		elif word == "AAAA":
			rdata = AAAA(rest[1])
		elif word == "MX":
			rdata = MX(rest[2] if rest[2] != "." else ".", int(rest[1]))
		elif word == "CNAME":
			rdata = CNAME(rest[1])
		elif word == "NS":
			rdata = NS(rest[1])
		elif word == "PTR":
			rdata = PTR(rest[1])
		else:
			rdata = TXT(" ".join(rest[1:]))
		self.records.setdefault(name, []).append((word, ttl, rdata))

	def behaviour(self, name, qtype):
		return self.behave.get((name, qtype)) or self.behave.get((name, "*"))


class Server:
	def __init__(self, args):
		self.args = args
		self.zone = Zone(args.zone)
		self.logf = open(args.log, "a") if args.log else None

	def log(self, name, qtype, transport, result):
		if self.logf is not None:
			self.logf.write("%s %s %s %s\n" % (name, qtype, transport, result))
			self.logf.flush()

	def answer(self, req, name, qtype):
		"""-> (DNSRecord reply, rcode name)"""
		rep = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=0, ra=1,
		    rd=req.header.rd, opcode=req.header.opcode), q=req.q)
		recs = self.zone.records
		if name not in recs:
			rep.header.rcode = RCODE.NXDOMAIN
			return rep
		cur = name
		seen = set()
		qname = req.q.qname
		while True:
			seen.add(cur)
			rr = recs.get(cur)
			if rr is None:
				rep.header.rcode = RCODE.NXDOMAIN
				break
			b = self.zone.behaviour(cur, qtype)
			if cur != name and b is not None and b[0] in ("SERVFAIL", "REFUSED", "NXDOMAIN"):
				rep.header.rcode = getattr(RCODE, b[0])
				break
			hits = [r for r in rr if r[0] == qtype or qtype == "ANY"]
			if hits:
				for typ, ttl, rdata in hits:
					rep.add_answer(RR(qname, getattr(QTYPE, typ), rdata=rdata, ttl=ttl))
				break
			cn = [r for r in rr if r[0] == "CNAME"]
			if not cn or qtype == "CNAME":
				break
			typ, ttl, rdata = cn[0]
			rep.add_answer(RR(qname, QTYPE.CNAME, rdata=rdata, ttl=ttl))
			if self.args.no_chase:
				break
			qname = rdata.label
			cur = norm(qname)
			if cur in seen or len(seen) > 16:
				break
		return rep

	async def handle(self, data, transport, send):
		"""send(bytes) delivers one reply; returns when done."""
		try:
			req = DNSRecord.parse(data)
			q = req.q
			name = norm(q.qname)
			qtype = QTYPE.get(q.qtype)
			qtype = str(qtype)
		except Exception:
			self.log("-", "-", transport, "FORMERR")
			return
		self.zone.refresh()
		b = self.zone.behaviour(name, qtype)
		word, arg = b if b is not None else (None, None)
		if word == "TIMEOUT":
			self.log(name, qtype, transport, "TIMEOUT")
			return
		if word == "DROP":
			k = (name, qtype)
			n = self.zone.counts.get(k, 0)
			if n < int(arg or 1):
				self.zone.counts[k] = n + 1
				self.log(name, qtype, transport, "DROP")
				return
			word = None
		if word == "DELAY":
			await asyncio.sleep(float(arg or 1))
		if word == "GARBAGE":
			pkt = struct.pack("!HHHHHH", req.header.id, 0x8180, 1, 0, 0, 0)
			pkt += b"\xc0\x0c" + struct.pack("!HH", q.qtype, 1)
			self.log(name, qtype, transport, "GARBAGE")
			send(pkt)
			return
		if word in ("SERVFAIL", "REFUSED", "NXDOMAIN"):
			rep = DNSRecord(DNSHeader(id=req.header.id, qr=1, ra=1,
			    rd=req.header.rd, rcode=getattr(RCODE, word)), q=req.q)
		else:
			rep = self.answer(req, name, qtype)
		result = RCODE.get(rep.header.rcode)
		pkt = rep.pack()
		if transport == "udp":
			limit = 512
			for ar in req.ar:
				if ar.rtype == QTYPE.OPT:
					limit = max(512, ar.rclass)
			if word == "TRUNCATE" or len(pkt) > limit:
				t = DNSRecord(DNSHeader(id=req.header.id, qr=1, ra=1, tc=1,
				    rd=req.header.rd, rcode=rep.header.rcode), q=req.q)
				pkt = t.pack()
				result = "TC"
		if word == "BADID":
			bad = bytearray(pkt)
			bad[0] ^= 0x5a
			bad[1] ^= 0xa5
			send(bytes(bad))
			result = "BADID"
		self.log(name, qtype, transport, result)
		send(pkt)


class UDP(asyncio.DatagramProtocol):
	def __init__(self, server):
		self.server = server
		self.transport = None
		self.tasks = set()

	def connection_made(self, transport):
		self.transport = transport

	def datagram_received(self, data, addr):
		def send(pkt):
			self.transport.sendto(pkt, addr)
		t = asyncio.ensure_future(self.server.handle(data, "udp", send))
		self.tasks.add(t)
		t.add_done_callback(self.tasks.discard)

	def error_received(self, exc):
		pass


async def tcp_client(server, reader, writer):
	def send(pkt):
		writer.write(struct.pack("!H", len(pkt)) + pkt)
	try:
		while True:
			hdr = await reader.readexactly(2)
			n = struct.unpack("!H", hdr)[0]
			data = await reader.readexactly(n)
			await server.handle(data, "tcp", send)
			await writer.drain()
	except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
		pass
	finally:
		try:
			writer.close()
		except Exception:
			pass


async def serve(args):
	loop = asyncio.get_running_loop()
	server = Server(args)
	server.zone.refresh()
	last = None
	for _ in range(50):
		try:
			udp_t, udp_p = await loop.create_datagram_endpoint(
			    lambda: UDP(server), local_addr=(args.addr, args.port))
		except OSError as e:
			last = e
			if args.port:
				break
			continue
		port = udp_t.get_extra_info("sockname")[1]
		try:
			tcp = await asyncio.start_server(
			    lambda r, w: tcp_client(server, r, w),
			    host=args.addr, port=port, reuse_address=True)
		except OSError as e:
			last = e
			udp_t.close()
			if args.port:
				break
			continue
		break
	else:
		udp_t = None
	if udp_t is None or udp_t.is_closing():
		print("peer_dns: cannot listen on %s port %d: %s" % (args.addr, args.port, last),
		    file=sys.stderr, flush=True)
		return 1
	stop = asyncio.Event()
	loop.add_signal_handler(signal.SIGTERM, stop.set)
	loop.add_signal_handler(signal.SIGINT, stop.set)
	print("ready %d" % port, flush=True)
	await stop.wait()
	tcp.close()
	udp_t.close()
	return 0


def main(argv):
	ap = argparse.ArgumentParser(prog="peer_dns.py",
	    description="DNS server for the mta tests (see the module docstring)")
	ap.add_argument("--addr", default="127.0.0.1")
	ap.add_argument("--port", type=int, default=0)
	ap.add_argument("--zone", required=True)
	ap.add_argument("--log", metavar="F")
	ap.add_argument("--no-chase", action="store_true",
	    help="answer a CNAME alone, without following it")
	args = ap.parse_args(argv)

	def quiet(loop, context):
		exc = context.get("exception")
		if isinstance(exc, (OSError, asyncio.CancelledError)):
			return
		loop.default_exception_handler(context)

	async def run():
		asyncio.get_running_loop().set_exception_handler(quiet)
		return await serve(args)
	return asyncio.run(run())


if __name__ == "__main__":
	try:
		sys.exit(main(sys.argv[1:]))
	except KeyboardInterrupt:
		sys.exit(0)
