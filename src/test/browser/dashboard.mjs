// Loads the proxy's dashboard in headless chromium (playwright-core, /usr/bin/chromium) and reports
// what a user would see. Driven by DashboardTest over stdin/stdout:
//   node dashboard.mjs URL UPSTREAM SCREENSHOT
// prints "rates" once the upstream's request rate shows a non-zero figure; then, each time a line
// "down BACKEND" arrives on stdin, prints "down BACKEND" once that backend's row says down; "fleet N"
// prints "fleet N" once the fleet panel shows, Redis connected, with N members; "shot"
// takes the screenshot; "end" closes. Any console error or page error is printed as "error ..."
// and makes the exit status 1. Every wait is bounded.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, upstream, screenshot] = process.argv.slice(2);
const errors = [];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let status = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  page.on("console", m => { if (m.type() === "error") { errors.push(m.text()); console.log("error console: " + m.text()); } });
  page.on("pageerror", e => { errors.push(String(e)); console.log("error page: " + e); });
  await page.goto(url, { timeout: 15000 });
  // A non-zero rate, with a dozen points on the charts (for the screenshot).
  await page.waitForFunction(name => {
    const e = document.querySelector(`[data-testid="rate-${name}"]`);
    const card = document.querySelector(`[data-upstream="${name}"]`);
    return e && parseFloat(e.textContent) > 0 && card && parseInt(card.dataset.points || "0") >= 12;
  }, upstream, { timeout: 30000 });
  console.log("rates");
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [command, argument] = line.trim().split(" ");
    if (command === "down") {
      await page.waitForSelector(`[data-backend="${argument}"][data-state="down"]`, { timeout: 20000 });
      console.log("down " + argument);
    } else if (command === "fleet") {
      await page.waitForFunction(n => {
        const panel = document.getElementById("fleet");
        const members = document.querySelector('[data-testid="fleet-members"]');
        const redis = document.querySelector('[data-testid="fleet-redis"]');
        return panel && !panel.hidden && panel.offsetHeight > 0 && members && members.textContent === n
          && redis && redis.classList.contains("connected");
      }, argument, { timeout: 20000 });
      console.log("fleet " + argument);
    } else if (command === "shot") {
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log("shot");
    } else if (command === "end") {
      break;
    }
  }
} catch (e) {
  console.log("error " + e.message.split("\n")[0]);
  status = 1;
} finally {
  await browser.close();
}
if (errors.length > 0) {
  status = 1;
}
console.log("exit " + status);
process.exit(status);
