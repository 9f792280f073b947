// Allure 3 report for the sign-off dashboard: `make report` (SINGLE_FILE=1 for one HTML file), and the
// fleet dashboard: `make report RUNS="..."` (python -m acceptance.fleet merges the runs first).
// Run from this folder (tools/allure); every path comes from the environment, set by the Makefile or the fleet.
import { existsSync, readFileSync } from "node:fs";

const single = process.env.ALLURE_SINGLE_FILE === "1";

// The verdict in the report's name, so it is the first thing on the first screen. The sign-off's renderer
// (acceptance/report/render.py) or the fleet computes it and writes it to ALLURE_HEADLINE_FILE: this file
// only shows it.
function reportName() {
  const path = process.env.ALLURE_HEADLINE_FILE;
  if (!path || !existsSync(path)) return "Embedding model sign-off";
  return readFileSync(path, "utf-8").trim() || "Embedding model sign-off";
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
  output: process.env.ALLURE_OUTPUT ?? (single ? "../../reports/allure-report-single" : "../../reports/allure-report"),
  // Kept between runs (reports/ is git-ignored, not wiped), so trend charts span builds.
  historyPath: process.env.ALLURE_HISTORY_PATH ?? "../../reports/allure-history.jsonl",
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
