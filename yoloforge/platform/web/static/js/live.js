// One SSE subscription per live view: EventSource reconnects by itself and sends Last-Event-ID, so nothing is
// missed or drawn twice. Handlers get the parsed `data` of each named event; arrival times are recorded on
// window.yfLive (event id -> performance.now()) for the event-to-chart latency bench.
export function liveEvents(url, handlers) {
  window.yfLive = window.yfLive || { received: [] };
  const source = new EventSource(url, { withCredentials: true });
  for (const [kind, handle] of Object.entries(handlers)) {
    source.addEventListener(kind, (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      handle(msg, ev);
      window.yfLive.received.push({ id: ev.lastEventId, kind, at: Date.now(), time: msg.time });
    });
  }
  source.addEventListener("end", () => source.close());
  return source;
}
