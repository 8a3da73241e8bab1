// The one live connection: resumes from the last event seen (`?since=`), reconnects with
// jittered exponential backoff, pings to notice a dead link, and tells the app what it hears.

const PING_EVERY = 25_000;
const PONG_WITHIN = 10_000;
const MAX_BACKOFF = 30_000;

export class Socket {
  /**
   * onFrame(frame): every server frame except pongs and duplicate events.
   * onStatus('connecting' | 'online' | 'offline'), onSessionEnded().
   */
  constructor({ onFrame, onStatus, onSessionEnded }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onSessionEnded = onSessionEnded;
    this.ws = null;
    this.lastSeq = null;
    this.helloSeq = null;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = true;
    this.viewing = null;
    this.wake = () => {
      if (!this.stopped && (!this.ws || this.ws.readyState > 1)) this.connectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.wake);
    document.addEventListener('visibilitychange', this.wake);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.wake);
    document.removeEventListener('visibilitychange', this.wake);
    clearTimeout(this.timer);
    this.clearPing();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, 'bye');
      this.ws = null;
    }
  }

  get connected() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** What this tab shows; re-announced after every reconnect. */
  setViewing(caseId) {
    this.viewing = caseId || null;
    this.send({ type: 'viewing', case_id: this.viewing });
  }

  connectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.onmessage = null;
      try { this.ws.close(); } catch { /* already closed */ }
    }
    this.onStatus('connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const since = this.lastSeq !== null ? `?since=${this.lastSeq}` : '';
    const ws = new WebSocket(`${scheme}//${location.host}/ws${since}`);
    this.ws = ws;
    ws.onmessage = (msg) => this.receive(msg.data);
    ws.onclose = (e) => this.closed(e.code);
    ws.onerror = () => { /* a close follows */ };
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'hello':
        this.attempt = 0;
        this.helloSeq = frame.seq;
        if (this.lastSeq === null) this.lastSeq = frame.seq;
        this.onStatus('online');
        this.startPing();
        if (this.viewing) this.send({ type: 'viewing', case_id: this.viewing });
        this.onFrame(frame);
        return;
      case 'event':
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
        if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) {
          // A hole: ask for everything after the last event we hold, in order.
          this.send({ type: 'resume', since: this.lastSeq });
          return;
        }
        this.lastSeq = frame.seq;
        this.onFrame(frame);
        return;
      case 'resync':
        // The log no longer reaches back to us: the app reloads over HTTP from here on.
        this.lastSeq = Math.max(this.lastSeq ?? 0, this.helloSeq ?? 0);
        this.onFrame(frame);
        return;
      case 'pong':
        clearTimeout(this.pongTimer);
        return;
      default:
        this.onFrame(frame);
    }
  }

  closed(code) {
    this.clearPing();
    this.ws = null;
    this.onStatus('offline');
    if (this.stopped) return;
    if (code === 4001) {
      this.onSessionEnded();
      return;
    }
    this.attempt += 1;
    let delay;
    if (code === 4000) {
      delay = 200 + Math.random() * 800;
    } else {
      const ceiling = Math.min(MAX_BACKOFF, 1000 * 2 ** Math.min(this.attempt - 1, 5));
      delay = ceiling / 2 + Math.random() * (ceiling / 2);
    }
    this.timer = setTimeout(() => this.connect(), delay);
  }

  startPing() {
    this.clearPing();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // No answer: the link is dead even if the browser has not noticed.
        if (this.ws) this.ws.close();
      }, PONG_WITHIN);
    }, PING_EVERY);
  }

  clearPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
