import { createTriggerIndex } from "./src/index";

const defs = Array.from({ length: 100_000 }, (_, i) => {
  const app = `app${Math.floor(i / 4)}`;
  const event =
    i % 4 === 3 ? (i % 8 === 3 ? `${app}/*` : `${app}/thing.*`) : `${app}/thing.created${i % 4}`;
  return { id: `fn-${i}`, triggers: [{ event }] };
});
const index = createTriggerIndex(defs);
const events = Array.from({ length: 4096 }, (_, k) => {
  const i = (k * 7919) % 100000;
  return { name: `app${Math.floor(i / 4)}/thing.created${i % 4}`, data: { id: i } };
});
const m = new Map<string, number>();
for (let i = 0; i < 75000; i++) m.set(`app${i}/thing.created`, i);
for (const label of ["match", "mapget", "match", "mapget"]) {
  const t0 = process.cpuUsage();
  let n = 0;
  for (let r = 0; r < 300; r++)
    for (const e of events) {
      if (label === "match") n += index.match(e).length;
      else n += m.get(e.name.slice(0, 20)) ?? 0;
    }
  const u = process.cpuUsage(t0);
  console.log(label, ((u.user + u.system) / (300 * 4096)).toFixed(3), "µs");
}
