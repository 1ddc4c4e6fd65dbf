using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// A worker on the Python bridge and one on the native backend, each on its own virtual host with its own result
/// collector: the backend tests send one request to both and compare what comes back.
/// </summary>
internal sealed class PythonAndNativeWorkers : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>Plain English (two paraphrases and an unrelated text), non-ASCII with symbols, and a text longer than the model's limit.</summary>
    public static readonly string[] Texts =
    [
        "hello world",
        "A man is playing a guitar on stage.",
        "Someone performs a song with a guitar in front of a crowd.",
        "The quarterly tax filing deadline is next Tuesday.",
        "Héllo 🙂 wörld!\nSymbols: #$%&, numbers 3.14159, and a URL https://example.com/path?q=1.",
        string.Join(' ', Walking.EndToEndTests.Sentences),
    ];

    private readonly WorkerHost _pythonWorker;
    private readonly WorkerHost _nativeWorker;

    private PythonAndNativeWorkers(ResultCollector python, ResultCollector native, WorkerHost pythonWorker, WorkerHost nativeWorker)
    {
        Python = python;
        Native = native;
        _pythonWorker = pythonWorker;
        _nativeWorker = nativeWorker;
    }

    /// <summary>Results of the Python worker's virtual host; publish here to reach that worker.</summary>
    public ResultCollector Python { get; }

    /// <summary>Results of the native worker's virtual host.</summary>
    public ResultCollector Native { get; }

    /// <param name="broker">The shared broker.</param>
    /// <param name="name">Prefix of the two virtual hosts (<c>NAME-py</c>, <c>NAME-native</c>).</param>
    /// <param name="nativeSettings">The native worker's settings besides <c>Embedding:Backend</c>.</param>
    /// <param name="bothSettings">Settings for both workers (the native one's own settings win).</param>
    public static async Task<PythonAndNativeWorkers> StartAsync(
        BrokerFixture broker, string name, IReadOnlyDictionary<string, string?> nativeSettings, IReadOnlyDictionary<string, string?>? bothSettings = null)
    {
        var pythonSettings = new Dictionary<string, string?>(bothSettings ?? new Dictionary<string, string?>()) { ["Embedding:Backend"] = "python" };
        var nativeAll = new Dictionary<string, string?>(bothSettings ?? new Dictionary<string, string?>());
        foreach (var (key, value) in nativeSettings) nativeAll[key] = value;
        nativeAll["Embedding:Backend"] = "native";
        var (_, pythonUrl) = await broker.CreateVirtualHostAsync($"{name}-py");
        var (_, nativeUrl) = await broker.CreateVirtualHostAsync($"{name}-native");
        var pythonResults = await ResultCollector.StartAsync(pythonUrl);
        var nativeResults = await ResultCollector.StartAsync(nativeUrl);
        var python = await WorkerHost.StartAsync(pythonUrl, pythonSettings);
        var native = await WorkerHost.StartAsync(nativeUrl, nativeAll);
        return new PythonAndNativeWorkers(pythonResults, nativeResults, python, native);
    }

    /// <summary>Sends <paramref name="body"/> to both workers and waits for both answers to <paramref name="requestId"/>, each a completed result.</summary>
    public async Task<(ResultCollector.Result Python, ResultCollector.Result Native)> BothCompletedAsync(string requestId, string body)
    {
        await Python.PublishAsync(body);
        await Native.PublishAsync(body);
        var fromPython = await Python.WaitForAsync(requestId, Patience);
        var fromNative = await Native.WaitForAsync(requestId, Patience);
        Assert.True(fromPython.IsCompleted, fromPython.Message);
        Assert.True(fromNative.IsCompleted, fromNative.Message);
        return (fromPython, fromNative);
    }

    public async ValueTask DisposeAsync()
    {
        await _pythonWorker.DisposeAsync();
        await _nativeWorker.DisposeAsync();
        await Python.DisposeAsync();
        await Native.DisposeAsync();
    }
}
