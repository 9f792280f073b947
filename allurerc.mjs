// Allure 3 report for the sign-off dashboard: `make report` (SINGLE_FILE=1 for one HTML file).
const single = process.env.ALLURE_SINGLE_FILE === "1";

export default {
  name: "Embedding model sign-off",
  output: single ? "reports/allure-report-single" : "reports/allure-report",
  // Kept between runs (reports/ is git-ignored, not wiped), so trend charts span builds.
  historyPath: process.env.ALLURE_HISTORY_PATH ?? "reports/allure-history.jsonl",
  plugins: {
    awesome: {
      options: {
        reportName: "Embedding model sign-off",
        singleFile: single,
        groupBy: ["epic", "feature", "story"],
      },
    },
  },
};
