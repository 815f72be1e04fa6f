// The tests drive real `dotnet build` runs on shared folders (the sample, one packaged project): one at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
