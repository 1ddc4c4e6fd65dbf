// A .NET producer with MassTransit: sends one EmbedRequested with the texts given on the command line and waits for
// the worker's answer, EmbedCompleted or EmbedFailed.
//
//   AMQP_URL=amqp://guest:guest@localhost:5672/ dotnet run --project examples/dotnet -- "A man plays a guitar." "Someone performs music."
//
// Prints one line per result, like the Python and shell examples; with --requests N it sends N requests (ids
// <id>-1 .. <id>-N) and waits for all of them. Exit status: 0 all completed, 1 any failed, 2 no answer in time.
using System.Collections.Concurrent;
using System.Globalization;
using AkiDb.Queue.Contracts;
using MassTransit;

var texts = new List<string>();
string? model = null;
var requestId = $"dotnet-{Guid.NewGuid():N}"[..19];
var requests = 1;
var timeout = TimeSpan.FromSeconds(60);
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--id": requestId = args[++i]; break;
        case "--model": model = args[++i]; break;
        case "--requests": requests = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--timeout": timeout = TimeSpan.FromSeconds(double.Parse(args[++i], CultureInfo.InvariantCulture)); break;
        default: texts.Add(args[i]); break;
    }
}

if (texts.Count == 0 || requests < 1)
{
    Console.Error.WriteLine("usage: producer [--id ID] [--model NAME] [--requests N] [--timeout SECONDS] TEXT...");
    return 64;
}

var ids = requests == 1 ? [requestId] : Enumerable.Range(1, requests).Select(n => $"{requestId}-{n}").ToList();
var pending = new ConcurrentDictionary<string, bool>(ids.Select(id => KeyValuePair.Create(id, true)));
var outcomes = new ConcurrentDictionary<string, bool>();
var allAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

void Answered(string? id, bool completed, string line)
{
    // Other producers' results arrive too (the result exchanges are fanout): the request id picks ours, and a
    // redelivered duplicate (delivery is at least once) is printed once.
    if (id is null || !pending.TryRemove(id, out _))
    {
        return;
    }

    outcomes[id] = completed;
    Console.WriteLine(line);
    if (pending.IsEmpty)
    {
        allAnswered.TrySetResult();
    }
}

var url = Environment.GetEnvironmentVariable("AMQP_URL") is { Length: > 0 } fromEnvironment ? fromEnvironment : "amqp://guest:guest@localhost:5672/";
var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
{
    cfg.Host(new Uri(url), h => h.PublisherConfirmation = true);

    // The worker answers in plain JSON and names the type in the MT-MessageType header.
    cfg.UseRawJsonDeserializer();

    // Its result exchanges are called embed-completed and embed-failed, not after the .NET type names; with these
    // names the endpoint below binds its queue to them.
    cfg.Message<EmbedCompleted>(m => m.SetEntityName(QueueNames.EmbedCompleted));
    cfg.Message<EmbedFailed>(m => m.SetEntityName(QueueNames.EmbedFailed));

    // A temporary queue (auto-deleted with this process) bound to both result exchanges.
    cfg.ReceiveEndpoint(new TemporaryEndpointDefinition(), e =>
    {
        e.Handler<EmbedCompleted>(context =>
        {
            var m = context.Message;
            Answered(m.RequestId, true, FormattableString.Invariant(
                $"{m.RequestId} completed vectors={m.Embeddings.Count} dimensions={m.Dimensions} model={m.Model} queued_ms={m.QueuedMs:F1} inference_ms={m.InferenceMs:F1}"));
            return Task.CompletedTask;
        });
        e.Handler<EmbedFailed>(context =>
        {
            var m = context.Message;
            Answered(m.RequestId, false, $"{m.RequestId} failed code={m.Code} message=\"{m.Message}\"");
            return Task.CompletedTask;
        });
    });
});

using var stop = new CancellationTokenSource(timeout);
await bus.StartAsync(stop.Token);
try
{
    // A fanout exchange drops results no queue is bound to yet: wait until the endpoint consumes before sending.
    if (await bus.WaitForHealthStatus(BusHealthStatus.Healthy, timeout) != BusHealthStatus.Healthy)
    {
        Console.Error.WriteLine($"The bus did not become ready on {url} within {timeout.TotalSeconds} s.");
        return 2;
    }

    // Send to the worker's exchange (bound to its queue). Not "queue:embed-requested": the worker declares the queue
    // with arguments that such an address would declare it again without, which the broker refuses.
    var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{QueueNames.EmbedRequested}"));
    foreach (var id in ids)
    {
        await endpoint.Send(new EmbedRequested { RequestId = id, Texts = texts, Model = model }, stop.Token);
    }

    await allAnswered.Task.WaitAsync(stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine($"No answer within {timeout.TotalSeconds} s for {string.Join(", ", pending.Keys)}.");
    return 2;
}
finally
{
    await bus.StopAsync(CancellationToken.None);
}

return outcomes.Values.All(completed => completed) ? 0 : 1;
