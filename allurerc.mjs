// Allure 3 (npm's `allure`): `npx allure@3 generate reports/allure-results` in the checkout
// writes one self-contained file, reports/allure-report/index.html; the trend across runs is
// kept in reports/allure-history.jsonl (each generate appends the run).
export default {
  name: "notifier deployment health",
  output: "reports/allure-report",
  historyPath: "reports/allure-history.jsonl",
  plugins: { awesome: { options: { singleFile: true, reportName: "notifier deployment health" } } },
};
