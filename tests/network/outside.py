# "The outside" for tests/network.rs, run inside a namespace the test made:
# a TCP server that answers each connection with "hello <client address>"
# and a DNS responder that answers every A query with the address given.
# Both stop by themselves after the given number of seconds.
import socket, struct, sys, threading, time

addr, tcp_port, answer, lifetime = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, tcp_port))
    s.listen(16)
    while True:
        c, peer = s.accept()
        c.sendall(("hello %s\n" % peer[0]).encode())
        c.close()

def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        end = 12
        while q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
        ans = b""
        count = 0
        if qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(answer)
            count = 1
        header = struct.pack("!HHHHHH", qid, 0x8180, 1, count, 0, 0)
        s.sendto(header + question + ans, peer)

for f in (tcp, dns):
    threading.Thread(target=f, daemon=True).start()
print("ready", flush=True)
time.sleep(lifetime)
