using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Inference;
using ScottPlot;

namespace AkiDb.Queue.Bench.Report;

/// <summary>The PNG figures (ScottPlot 5, rendered headless through SkiaSharp's Linux native assets).</summary>
internal static class Plots
{
    public const string LatencyFile = "benchmarks-latency.png";
    public const string ThroughputFile = "benchmarks-throughput.png";
    private const string Font = "DejaVu Sans";
    private static readonly string[] CorpusNames = ["short", "long", "mixed"];

    public static List<string> Write(BenchReport report, string directory)
    {
        var written = new List<string>();
        if (report.EndToEnd is { } e2e)
        {
            written.Add(Latency(e2e, report.Inference, Path.Combine(directory, LatencyFile)));
        }

        if (report.Inference is not null || report.EndToEnd is not null)
        {
            written.Add(Throughput(report, Path.Combine(directory, ThroughputFile)));
        }

        return written;
    }

    private static string Latency(EndToEndResults e2e, InferenceResults? inference, string file)
    {
        var (multiplot, plots) = Panels();
        foreach (var (corpus, plot) in CorpusNames.Zip(plots))
        {
            var phases = e2e.Phases.Where(p => p.Config == Configs.Python && p.Corpus == corpus && p.Load != Configs.Saturation)
                .OrderBy(p => p.LoadFraction).ToList();
            var sat = e2e.Find(Configs.Python, corpus, Configs.Saturation);
            plot.Title($"{corpus}: latency vs offered load" + (sat is null ? "" : $"\n(100 % = {sat.ThroughputPerSecond:F0} msg/s saturation)"), 13);
            plot.XLabel("offered load, % of saturation throughput", 12);
            plot.YLabel("publish -> result received (ms)", 12);
            if (phases.Count == 0)
            {
                continue;
            }

            double[] xs = phases.Select(p => p.LoadFraction * 100).ToArray();
            foreach (var (name, values, color, shape) in new[]
                     {
                         ("p50", phases.Select(p => p.Latency.P50).ToArray(), Colors.SteelBlue, MarkerShape.FilledCircle),
                         ("p95", phases.Select(p => p.Latency.P95).ToArray(), Colors.DarkOrange, MarkerShape.FilledSquare),
                         ("p99", phases.Select(p => p.Latency.P99).ToArray(), Colors.Crimson, MarkerShape.FilledTriangleUp),
                     })
            {
                var scatter = plot.Add.Scatter(xs, values, color);
                scatter.LegendText = name;
                scatter.MarkerShape = shape;
                scatter.MarkerSize = 9;
                scatter.LineWidth = 2;
            }

            if (inference?.SingleText.FirstOrDefault(s => s.Corpus == corpus) is { } single)
            {
                var line = plot.Add.HorizontalLine(single.IdleMedianMs + 5, 1.5f, Colors.Gray, LinePattern.Dashed);
                line.LegendText = $"10 % target: p95 <= {single.IdleMedianMs + 5:F1} ms";
            }

            plot.Axes.SetLimitsX(0, 100);
            plot.Axes.Bottom.SetTicks([10, 50, 80], ["10 %", "50 %", "80 %"]);
            var top = phases.Max(p => p.Latency.P99);
            plot.Axes.SetLimitsY(0, Math.Max(top, (inference?.SingleText.FirstOrDefault(s => s.Corpus == corpus)?.IdleMedianMs ?? 0) + 5) * 1.15);
            plot.Legend.Alignment = Alignment.UpperLeft;
            plot.Legend.FontName = Font;
            plot.Legend.FontSize = 11;
            plot.ShowLegend();
        }

        multiplot.SavePng(file, 1500, 520);
        return file;
    }

    private static string Throughput(BenchReport report, string file)
    {
        var (multiplot, plots) = Panels();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var (corpus, plot) in CorpusNames.Zip(plots))
        {
            var entries = new List<(string Label, double Value)>
            {
                ("limit", report.Inference?.Find(Methods.Limit, corpus)?.Median ?? double.NaN),
                ("peer", report.Inference?.Find(Methods.Peer, corpus)?.Median ?? double.NaN),
                ("bridge\nbinary", report.Inference?.Find(Methods.BridgeBinary, corpus)?.Median ?? double.NaN),
                ("bridge\nJSON", report.Inference?.Find(Methods.BridgeJson, corpus)?.Median ?? double.NaN),
                ("e2e\npython", report.EndToEnd?.Find(Configs.Python, corpus, Configs.Saturation)?.ThroughputPerSecond ?? double.NaN),
                ("e2e\nnative", report.EndToEnd?.Find(Configs.Native, corpus, Configs.Saturation)?.ThroughputPerSecond ?? double.NaN),
                ("limit\nint8", report.Inference?.Find(Methods.LimitInt8, corpus)?.Median ?? double.NaN),
                ("bridge\nint8", report.Inference?.Find(Methods.BridgeBinaryInt8, corpus)?.Median ?? double.NaN),
                ("e2e\nint8", report.EndToEnd?.Find(Configs.PythonInt8, corpus, Configs.Saturation)?.ThroughputPerSecond ?? double.NaN),
            };
            var limit = entries[0].Value;
            var bars = entries.Select((e, i) => new Bar
            {
                Position = i,
                Value = double.IsNaN(e.Value) ? 0 : e.Value,
                FillColor = palette.GetColor(i),
                Label = double.IsNaN(e.Value) ? "n/a" : double.IsNaN(limit) || i == 0 ? $"{e.Value:F0}" : $"{e.Value:F0}\n{e.Value / limit:F2}x",
                CenterLabel = false,
            }).ToList();
            var plottable = plot.Add.Bars(bars);
            plottable.ValueLabelStyle.FontSize = 11;
            plottable.ValueLabelStyle.FontName = Font;
            plot.Axes.Bottom.SetTicks(entries.Select((_, i) => (double)i).ToArray(), entries.Select(e => e.Label).ToArray());
            plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
            plot.Axes.Margins(bottom: 0, top: 0.25);
            plot.Title($"{corpus}: texts per second (median)\nlimit = in-process ORT, peer = SentenceTransformers", 13);
            plot.YLabel("texts / s (x = ratio to the limit)", 12);
        }

        multiplot.SavePng(file, 1500, 560);
        return file;
    }

    /// <summary>One panel per corpus, side by side.</summary>
    private static (Multiplot Multiplot, Plot[] Plots) Panels()
    {
        var multiplot = new Multiplot { Layout = new ScottPlot.MultiplotLayouts.Columns() };
        multiplot.AddPlots(CorpusNames.Length); // AddPlots(total): the plot count becomes total
        var plots = multiplot.GetPlots();
        foreach (var plot in plots)
        {
            plot.Font.Set(Font);
            plot.Axes.Title.Label.FontName = Font;
        }

        return (multiplot, plots);
    }
}
