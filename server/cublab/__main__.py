from cublab.launcher import main

main()
