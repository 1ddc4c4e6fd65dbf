using AkiDb.Queue.Worker.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddWorker();
return await builder.RunWorkerAsync();
