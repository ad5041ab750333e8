from cublab.cli import main

main()
