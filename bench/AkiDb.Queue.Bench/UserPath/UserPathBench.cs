using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.UserPath;

/// <summary>
/// The user's path through the broker, side by side in one run with one worker: results/s and result bytes per
/// vector encoding (single-text requests, the worker saturated), and <c>akidb-queue embed</c> on a JSONL file
/// against the worker draining the same texts in the same requests as fast as confirms allow.
/// </summary>
internal sealed class UserPathBench(BenchSettings settings, BrokerFixture broker, IReadOnlyList<string> shortTexts, IReadOnlyList<string> embedTexts)
{
    private static readonly string[] Encodings = ["float", "base64", "int8", "binary"];
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    public async Task<UserPathResults> RunAsync()
    {
        Log.Section($"User path: encodings ({shortTexts.Count} single-text requests each) and embed ({embedTexts.Count} JSONL lines), {settings.Repetitions} rounds");
        var cli = Path.Combine(Paths.Root, "src", "Cli", "bin", "Release", "net10.0", "akidb-queue.dll");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"{cli} is missing: build it with dotnet build src/Cli -c Release (bench.sh does).");
        }

        const string vhost = "bench-user-path";
        await broker.CreateVirtualHostNamedAsync(vhost);
        var url = broker.UrlFor(vhost);
        var input = Path.Combine(Paths.Artifacts, "user-path-input.jsonl");
        Directory.CreateDirectory(Paths.Artifacts);
        await File.WriteAllLinesAsync(input, embedTexts.Select((t, i) => JsonSerializer.Serialize(new { id = $"t{i}", text = t })));
        var encodings = Encodings.ToDictionary(e => e, _ => new List<DrainResult>());
        var saturation = new List<DrainResult>();
        var embed = new List<EmbedCli.Run>();
        try
        {
            await using var worker = await WorkerProcess.StartAsync("user-path", url,
                new Dictionary<string, string?> { ["Embedding:CacheDirectory"] = Paths.ModelCache, ["Health:Urls"] = "" },
                stopGrace: TimeSpan.FromSeconds(30), workerDll: Paths.WorkerDll, logDirectory: Paths.WorkerLogs);
            Cleanup.Track(worker.Pid);
            await using var client = await DrainClient.ConnectAsync(url);
            // A fresh worker compiles its hot paths during its first thousands of texts: warm it before measuring.
            await client.RunAsync("warm-", [.. shortTexts.Concat(shortTexts).Take(Math.Max(settings.WarmupMessages * 8, 64))], null, 1, Patience);
            for (var round = 0; round < settings.Repetitions; round++)
            {
                // Rotated each round, so no encoding always runs first or last.
                foreach (var encoding in Encodings.Skip(round % Encodings.Length).Concat(Encodings.Take(round % Encodings.Length)))
                {
                    var result = await client.RunAsync($"enc-{encoding}-{round}-", shortTexts, encoding == "float" ? null : encoding, 1, Patience);
                    encodings[encoding].Add(result);
                    Log.Info($"  round {round + 1} {encoding,-6}: {result.TextsPerSecond,6:F1} results/s, {result.BytesPerText,6:F0} bytes per result, {result.VectorBytes,6:F0} bytes per vector");
                }

                // Same texts, same requests (16 texts each, embed's default) both ways, alternating which goes first.
                for (var side = 0; side < 2; side++)
                {
                    if ((side + round) % 2 == 0)
                    {
                        var drained = await client.RunAsync($"sat-{round}-", embedTexts, null, 16, Patience);
                        saturation.Add(drained);
                        Log.Info($"  round {round + 1} worker at saturation: {drained.Seconds:F1} s for {drained.Texts} texts ({drained.TextsPerSecond:F0} texts/s)");
                    }
                    else
                    {
                        var run = await EmbedCli.RunAsync(cli, input, url, $"user-path-{round}");
                        embed.Add(run);
                        Log.Info($"  round {round + 1} akidb-queue embed:       {run.Seconds:F1} s wall ({run.Lines} lines, exit {run.ExitCode})");
                    }
                }
            }
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }

        var rows = Encodings.Select(e => new EncodingRow(e,
            Stats.Median(encodings[e].Select(r => r.TextsPerSecond)),
            Stats.Median(encodings[e].Zip(encodings["float"]).Select(p => p.First.TextsPerSecond / p.Second.TextsPerSecond)),
            Stats.Median(encodings[e].Select(r => r.BytesPerText)),
            Stats.Median(encodings[e].Select(r => r.VectorBytes)),
            encodings[e].Sum(r => r.Failed))).ToList();
        var ratios = embed.Zip(saturation).Select(p => p.First.Seconds / p.Second.Seconds).ToList();
        return new UserPathResults(shortTexts.Count, embedTexts.Count, settings.Repetitions, rows,
            Stats.Median(saturation.Select(s => s.Seconds)), Stats.Median(embed.Select(e => e.Seconds)), Stats.Median(ratios), ratios,
            embed.All(e => e.ExitCode == 0 && e.Lines == embedTexts.Count && e.InOrder));
    }

}

internal sealed record EncodingRow(string Encoding, double ResultsPerSecond, double VsFloat, double BytesPerResult, double BytesPerVector, int Failed);

internal sealed record UserPathResults(int EncodingTexts, int EmbedTexts, int Rounds, IReadOnlyList<EncodingRow> Encodings,
    double SaturationSeconds, double EmbedSeconds, double EmbedVsSaturation, IReadOnlyList<double> RoundRatios, bool EveryLineInOrder)
{
    public string ToMarkdown(string conditions)
    {
        var md = new StringBuilder();
        md.AppendLine("# User path benchmark: vector encodings and `akidb-queue embed`");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{conditions} One worker (python backend, defaults), one broker, the same machine; medians of {Rounds} rounds, each side by side.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"## Results/s through the broker per encoding ({EncodingTexts} short single-text requests, the worker saturated)");
        md.AppendLine();
        md.AppendLine("| encoding | results/s | vs float (same round) | bytes per result message | bytes per vector in the JSON | failed |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var row in Encodings)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| `{row.Encoding}` | {row.ResultsPerSecond:F1} | {row.VsFloat:F2}x | {row.BytesPerResult:F0} | {row.BytesPerVector:F0} | {row.Failed} |");
        }

        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"## `akidb-queue embed` vs the worker at saturation ({EmbedTexts} JSONL lines of short texts)");
        md.AppendLine();
        md.AppendLine("The worker at saturation: the same texts in the same requests (16 texts each, embed's default) published as fast as confirms allow, timed to the last result. `embed`: the CLI process, wall time from start to exit (start-up, reading and tokenising the input, writing the output in order).");
        md.AppendLine();
        md.AppendLine("| | seconds (median) |");
        md.AppendLine("|---|---|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| worker at saturation | {SaturationSeconds:F1} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| `akidb-queue embed` | {EmbedSeconds:F1} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| ratio, median of per-round ratios (target at most 1.10) | {EmbedVsSaturation:F2}x |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Per round, embed ÷ saturation: {string.Join(", ", RoundRatios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture) + "x"))}.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Every line answered and in input order in every round: {(EveryLineInOrder ? "yes" : "NO")}.");
        return md.ToString();
    }
}
