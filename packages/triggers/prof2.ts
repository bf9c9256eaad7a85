import { createTriggerIndex } from "./src/index";

const N = Number(process.argv[2] ?? 100000);
const defs = Array.from({ length: N }, (_, i) => ({
  id: `fn-${i}`,
  triggers: [{ event: `app${i}/thing.created` }],
}));
const index = createTriggerIndex(defs);
const events = Array.from({ length: 4096 }, (_, k) => ({
  name: `app${(k * 7919) % N}/thing.created`,
}));
const m = new Map<string, { a: number[] }>();
for (let i = 0; i < N; i++) m.set(`app${i}/thing.created`, { a: [i] });
for (const label of ["match", "mapget", "match", "mapget"]) {
  const t0 = process.cpuUsage();
  let n = 0;
  for (let r = 0; r < 300; r++)
    for (const e of events) {
      if (label === "match") n += index.match(e).length;
      else {
        const b = m.get(e.name);
        if (b) n += b.a.length;
        for (let i = 0; i < e.name.length; i++) {
          const c = e.name.charCodeAt(i);
          if (c === 47 || c === 46) {
            m.get(e.name.slice(0, i + 1));
          }
        }
      }
    }
  const u = process.cpuUsage(t0);
  console.log(N, label, ((u.user + u.system) / (300 * 4096)).toFixed(3), "µs");
}
