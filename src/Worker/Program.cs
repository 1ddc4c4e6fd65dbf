using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Messaging;

var builder = Host.CreateApplicationBuilder(args);
builder.AddWorkerTelemetry();
builder.AddEmbedding();
builder.AddMessaging();
builder.AddHealthEndpoint();
return await builder.RunWorkerAsync();
