#!/usr/bin/env bash
# Checks a `melforge synthesize` page in a real headless browser (Debian's Chromium):
#   1. index.html opened from disk (file://) shows one <audio> per clip-NNN.wav (and per
#      clip-NNN.VOCODER.wav that --compare-vocoder wrote);
#   2. every <audio> source and <img> of the page, fetched by the browser, decodes (WAV through
#      Web Audio's decodeAudioData, PNG as an image). This step serves a copy of the folder on
#      127.0.0.1, because Chromium's headless mode does not run asynchronous file:// loads; and
#      the page keeps a request to /wait open while decoding, because headless virtual time
#      runs on (and the DOM is dumped) whenever no request is pending.
#
#   Scripts/check-page.sh OUT_DIR       exit 0 when all is well; prints what the browser saw
set -euo pipefail
folder=${1:?usage: check-page.sh OUT_DIR}
[[ -f "$folder/index.html" ]] || { echo "check-page: no index.html in '$folder'" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n "$browser" ]] || { echo "check-page: Chromium is not installed (apt-get install chromium)" >&2; exit 1; }
flags=(--headless=old --no-sandbox --disable-gpu --virtual-time-budget=60000)
absolute=$(cd "$folder" && pwd)

# 1. From disk: a player for every sound; a clip is clip-NNN.wav with its picture, and each
#    other vocoder's sound of it is clip-NNN.NAME.wav.
clips=$(find "$absolute" -maxdepth 1 -regextype posix-extended -regex '.*/clip-[0-9]+\.wav' | wc -l)
sounds=$(find "$absolute" -maxdepth 1 -name 'clip-*.wav' | wc -l)
players=$("$browser" "${flags[@]}" --dump-dom "file://$absolute/index.html" 2>/dev/null | grep -o '<audio' | wc -l)
echo "from disk: $players audio players for $clips clips ($sounds sounds)"
[[ "$players" -eq "$sounds" && "$clips" -gt 0 ]] || { echo "check-page: the page from disk shows $players players for $sounds sounds" >&2; exit 1; }

# 2. Every source decodes.
copy=$(mktemp -d)
trap 'rm -rf "$copy"; [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null || true' EXIT
cp -r "$absolute"/. "$copy"/
cat > "$copy/check.html" <<'HTML'
<!DOCTYPE html><html><body><pre id="result">pending</pre><script>
// XMLHttpRequest, not fetch: headless Chromium's virtual time waits for the former only.
function load(url, type) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("GET", url);
    request.responseType = type;
    request.onload = () => request.status === 200 ? resolve(request.response) : reject(new Error("HTTP " + request.status));
    request.onerror = () => reject(new Error("cannot load " + url));
    request.send();
  });
}
// While the checks run, one slow request is always pending, so that virtual time waits.
let finished = false;
(async () => { while (!finished) { try { await load("wait", "text"); } catch (e) { break; } } })();
(async () => {
  const lines = [];
  try {
    const page = new DOMParser().parseFromString(await load("index.html", "text"), "text/html");
    const context = new OfflineAudioContext(1, 16000, 16000);
    for (const audio of page.querySelectorAll("audio")) {
      const src = audio.getAttribute("src");
      try {
        const buffer = await context.decodeAudioData(await load(src, "arraybuffer"));
        lines.push((buffer.length > 0 ? "ok " : "bad ") + src + " " + buffer.length + " frames");
      } catch (e) { lines.push("bad " + src + " " + e); }
    }
    for (const img of page.querySelectorAll("img")) {
      const src = img.getAttribute("src");
      const ok = await new Promise(r => { const i = new Image(); i.onload = () => r(i.width > 0); i.onerror = () => r(false); i.src = src; });
      lines.push((ok ? "ok " : "bad ") + src);
    }
  } catch (e) { lines.push("bad page " + e); }
  // The marker is assembled so that the script's own text never contains it.
  document.getElementById("result").textContent = ["DONE", "CHECKING"].join("-") + "\n" + lines.join("\n");
  finished = true;
})();
</script></body></html>
HTML
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$copy" && exec python3 - "$port" >/dev/null 2>&1 <<'PY'
import http.server, sys, time
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/wait":  # holds the page's virtual time for 100 ms of real time
            time.sleep(0.1)
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
        else:
            super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
) &
server=$!
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break; sleep 0.1; done
result=$("$browser" "${flags[@]}" --dump-dom "http://127.0.0.1:$port/check.html" 2>/dev/null | sed -n '/id="result"/,/<\/pre>/p')
echo "$result" | grep -E '^(ok|bad)' || true
echo "$result" | grep -q '<pre id="result">DONE-CHECKING' || { echo "check-page: the browser did not finish the check" >&2; exit 1; }
if echo "$result" | grep -q '^bad'; then echo "check-page: some sources do not decode" >&2; exit 1; fi
expected=$((sounds + clips))
checked=$(echo "$result" | grep -c '^ok' || true)
[[ "$checked" -eq "$expected" ]] || { echo "check-page: $checked sources decoded, expected $expected" >&2; exit 1; }
echo "check-page: every clip and picture of '$folder' decodes in Chromium"
