// The live tally as a bar chart. Chart.js is tree-shaken: only the parts a bar chart
// needs are registered.

import { BarElement, CategoryScale, Chart as ChartJS, LinearScale, Tooltip } from "chart.js";
import type { ChartOptions } from "chart.js";
import { Bar } from "react-chartjs-2";
import type { Results } from "../../shared/types";

ChartJS.register(CategoryScale, LinearScale, BarElement, Tooltip);

const OPTIONS: ChartOptions<"bar"> = {
  responsive: true,
  maintainAspectRatio: false,
  // Short, so a bar follows the votes of a busy second instead of lagging behind them.
  animation: { duration: 250 },
  scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
  plugins: { legend: { display: false } },
};

export function ResultsChart({ results }: { results: Results }) {
  const data = {
    labels: results.options.map((option) => option.label),
    datasets: [
      {
        label: "Votes",
        data: results.options.map((option) => option.votes),
        backgroundColor: "#2656c9",
      },
    ],
  };
  const summary = results.options.map((option) => `${option.label}: ${option.votes}`).join(", ");
  return (
    <div className="chart-box">
      <Bar data={data} options={OPTIONS} role="img" aria-label={`Votes per option: ${summary}`} />
    </div>
  );
}
