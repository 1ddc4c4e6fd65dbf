using AkiDb.Queue.Worker.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddWorker();
builder.Build().Run();
