// Allure 3 report for the sign-off dashboard: `make report` (SINGLE_FILE=1 for one HTML file), and the
// fleet dashboard: `make report RUNS="..."` (python -m acceptance.fleet merges the runs first).
import { existsSync, readFileSync } from "node:fs";

const single = process.env.ALLURE_SINGLE_FILE === "1";

// The verdict in the report's name, so it is the first thing on the first screen. ALLURE_SIGNOFF_JSON
// points at a run's signoff.json or at a fleet's fleet.json; the failing criteria are the report's
// global errors (written beside the results by acceptance/allure_report.py).
function reportName() {
  const path = process.env.ALLURE_SIGNOFF_JSON;
  if (!path || !existsSync(path)) return "Embedding model sign-off";
  const data = JSON.parse(readFileSync(path, "utf-8"));
  const verdict = data.verdict === "signed-off" ? "SIGNED OFF" : "NOT SIGNED OFF";
  if (Array.isArray(data.devices)) {
    const signed = data.devices.filter((d) => d.verdict === "signed-off").length;
    return `Fleet sign-off: ${verdict} (${signed} of ${data.devices.length} devices signed off)`;
  }
  const failing = (data.criteria ?? []).filter((c) => c.required !== false && c.status !== "pass").length;
  const ended = data.run?.ended && data.run.ended !== "completed" ? `, run ${data.run.ended.toUpperCase()}` : "";
  return `Sign-off ${data.model?.id ?? ""} / ${data.profile ?? ""}: ${verdict}` +
    (failing ? ` (${failing} criteria not met${ended})` : ended ? ` (${ended.slice(2)})` : "");
}

// Fleet: one Allure environment per device (the `device` label the merge puts on every result).
const devices = JSON.parse(process.env.ALLURE_FLEET_DEVICES ?? "[]");
const environments = Object.fromEntries(devices.map((device) => [device, {
  name: device,
  matcher: ({ labels }) => labels.some(({ name, value }) => name === "device" && value === device),
}]));
const name = reportName();

export default {
  name,
  output: process.env.ALLURE_OUTPUT ?? (single ? "reports/allure-report-single" : "reports/allure-report"),
  // Kept between runs (reports/ is git-ignored, not wiped), so trend charts span builds.
  historyPath: process.env.ALLURE_HISTORY_PATH ?? "reports/allure-history.jsonl",
  ...(devices.length ? { environments } : {}),
  plugins: {
    awesome: {
      options: {
        reportName: name,
        singleFile: single,
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
};
